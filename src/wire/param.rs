//! Parameter reprs (RFC 5354 §3): addresses, transports, the member
//! selection policy, pool elements, server information and pool entries.

use core::fmt;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::Error;
use super::field::{padded, rd16, rd32, RawTlv, Tlvs, Writer, TLV_HEADER_LEN};
use super::list::{sealed::Sealed, List};
use super::types::ParamType;
use crate::addr::{
    TransportAddress, TransportError, TransportProtocol, TransportUse, MAX_TRANSPORT_ADDRESSES,
};
use crate::id::{IdError, PeId, ServerId, MAX_POOL_HANDLE_SIZE};
use crate::policy::{Policy, PolicyError, MAX_POLICY_PARAMS};

/// Registration life meaning "never expires" (RFC 5354 §3.10).
pub const REGISTRATION_LIFE_INFINITE: i32 = -1;

/// The TLV that makes up all of `bytes` (its padding may follow it).
pub(crate) fn single_tlv(bytes: &[u8]) -> Result<RawTlv<'_>, Error> {
    if bytes.len() < TLV_HEADER_LEN {
        return Err(Error::Truncated);
    }
    let len = usize::from(rd16(bytes, 2));
    if len >= TLV_HEADER_LEN && len > bytes.len() {
        return Err(Error::Truncated);
    }
    let mut t = Tlvs::new(bytes, 0);
    let raw = t.next_tlv().ok_or(Error::Truncated)??;
    if bytes.len() > padded(raw.bytes.len()) {
        return Err(Error::TrailingBytes);
    }
    Ok(raw)
}

/// The next TLV from `*pos` on whose type `want` accepts, skipping others.
#[inline]
fn next_of<'a>(
    bytes: &'a [u8],
    pos: &mut usize,
    want: impl Fn(ParamType) -> bool,
) -> Option<RawTlv<'a>> {
    let mut t = Tlvs::at(bytes, *pos);
    loop {
        let raw = t.next_tlv()?.ok()?;
        if want(raw.kind()) {
            *pos = t.pos();
            return Some(raw);
        }
    }
}

/// The type and value of the next TLV of a validated region from `*pos` on;
/// `None` at the end. Nothing is checked beyond what keeps the read inside
/// `bytes`: the region was validated when the message was parsed, so this
/// only walks it (lists read their items with it).
#[inline(always)]
pub(crate) fn next_validated<'a>(bytes: &'a [u8], pos: &mut usize) -> Option<(u16, &'a [u8])> {
    let rest = bytes.get(*pos..)?;
    let [t0, t1, l0, l1, ..] = *rest else {
        return None;
    };
    let len = usize::from(u16::from_be_bytes([l0, l1]));
    let value = rest.get(TLV_HEADER_LEN..len)?;
    *pos += padded(len);
    Some((u16::from_be_bytes([t0, t1]), value))
}

/// Checks a pool handle against RFC 5354 (non-empty) and this crate's limit.
pub(crate) fn check_handle(handle: &[u8]) -> Result<(), Error> {
    if handle.is_empty() {
        Err(Error::PoolHandle(IdError::EmptyPoolHandle))
    } else if handle.len() > MAX_POOL_HANDLE_SIZE {
        Err(Error::PoolHandle(IdError::PoolHandleTooLong {
            len: handle.len(),
        }))
    } else {
        Ok(())
    }
}

pub(crate) fn parse_handle<'a>(raw: &RawTlv<'a>) -> Result<&'a [u8], Error> {
    check_handle(raw.value)?;
    Ok(raw.value)
}

pub(crate) fn write_handle(w: &mut Writer<'_>, handle: &[u8]) -> Result<(), Error> {
    check_handle(handle)?;
    write_opaque(w, ParamType::PoolHandle, handle);
    Ok(())
}

pub(crate) fn write_opaque(w: &mut Writer<'_>, ty: ParamType, bytes: &[u8]) {
    let s = w.begin_param(ty);
    w.bytes(bytes);
    w.end(s);
}

pub(crate) fn parse_u32(raw: &RawTlv<'_>) -> Result<u32, Error> {
    if raw.value.len() != 4 {
        return Err(Error::BadParameterLength { param_type: raw.ty });
    }
    Ok(rd32(raw.value, 0))
}

pub(crate) fn parse_pe_id(raw: &RawTlv<'_>) -> Result<PeId, Error> {
    Ok(PeId::new(parse_u32(raw)?)?)
}

pub(crate) fn write_u32_param(w: &mut Writer<'_>, ty: ParamType, v: u32) {
    let s = w.begin_param(ty);
    w.u32(v);
    w.end(s);
}

pub(crate) fn parse_checksum(raw: &RawTlv<'_>) -> Result<u16, Error> {
    if raw.value.len() != 2 {
        return Err(Error::BadParameterLength { param_type: raw.ty });
    }
    Ok(rd16(raw.value, 0))
}

pub(crate) fn write_checksum(w: &mut Writer<'_>, v: u16) {
    let s = w.begin_param(ParamType::PeChecksum);
    w.u16(v);
    w.end(s);
}

// ---------------------------------------------------------------------------
// Addresses

fn is_address(ty: ParamType) -> bool {
    matches!(ty, ParamType::Ipv4Address | ParamType::Ipv6Address)
}

/// Checks an IPv4 or IPv6 Address TLV without decoding it: the parse
/// validates, the address is decoded when it is iterated.
#[inline]
fn check_address(raw: &RawTlv<'_>) -> Result<(), Error> {
    match (raw.kind(), raw.value.len()) {
        (ParamType::Ipv4Address, 4) | (ParamType::Ipv6Address, 16) => Ok(()),
        _ => Err(Error::BadParameterLength { param_type: raw.ty }),
    }
}

/// The address of a validated IPv4 (`ty` 1) or IPv6 (`ty` 2) Address value;
/// `None` for another type.
#[inline(always)]
fn read_address(ty: u16, v: &[u8]) -> Option<IpAddr> {
    const V4: u16 = ParamType::Ipv4Address.raw();
    const V6: u16 = ParamType::Ipv6Address.raw();
    match ty {
        V4 => <[u8; 4]>::try_from(v)
            .ok()
            .map(|o| IpAddr::V4(Ipv4Addr::from(o))),
        V6 => <[u8; 16]>::try_from(v)
            .ok()
            .map(|o| IpAddr::V6(Ipv6Addr::from(o))),
        _ => None,
    }
}

/// Whether `ty` is an IPv4 or IPv6 Address.
#[inline(always)]
const fn is_address_type(ty: u16) -> bool {
    ty == ParamType::Ipv4Address.raw() || ty == ParamType::Ipv6Address.raw()
}

impl<'a> Sealed<'a> for IpAddr {
    /// Reads the next address of a validated transport: each address was
    /// checked once by the parse and is decoded here, once, unchecked but
    /// inside the bytes (other TLVs the parse let through are skipped).
    #[inline]
    fn next_from_wire(bytes: &'a [u8], pos: &mut usize) -> Option<Self> {
        loop {
            let (ty, v) = next_validated(bytes, pos)?;
            if is_address_type(ty) {
                return read_address(ty, v);
            }
        }
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        match self {
            IpAddr::V4(a) => {
                let s = w.begin_param(ParamType::Ipv4Address);
                w.bytes(&a.octets());
                w.end(s);
            }
            IpAddr::V6(a) => {
                let s = w.begin_param(ParamType::Ipv6Address);
                w.bytes(&a.octets());
                w.end(s);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Transports

/// A DCCP, SCTP, TCP, UDP or UDP-Lite Transport parameter (RFC 5354 §3.3-§3.7).
///
/// The second 16-bit field is the Transport Use for SCTP and TCP (TCP as
/// rsplib writes and Wireshark reads it; RFC 5354 calls it reserved), and
/// reserved (sent as 0, ignored) for UDP, UDP-Lite and DCCP. Parsing and
/// emitting enforce: at least one address, exactly one unless SCTP, at most
/// [`MAX_TRANSPORT_ADDRESSES`], Transport Use 0 or 1. Unlike
/// [`TransportAddress::validate`], a TCP transport may say data plus control,
/// because rsplib sends that; UDP, UDP-Lite and DCCP cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransportParam<'a> {
    /// The protocol (selects the parameter type).
    pub protocol: TransportProtocol,
    /// The port.
    pub port: u16,
    /// Data only, or data plus control (SCTP only).
    pub transport_use: TransportUse,
    /// The DCCP service code (0 and not sent for other protocols).
    pub service_code: u32,
    /// The IPv4/IPv6 addresses, in wire order.
    pub addresses: List<'a, IpAddr>,
}

impl<'a> TransportParam<'a> {
    /// A transport over `addresses` (service code 0).
    pub const fn new(
        protocol: TransportProtocol,
        port: u16,
        transport_use: TransportUse,
        addresses: &'a [IpAddr],
    ) -> Self {
        TransportParam {
            protocol,
            port,
            transport_use,
            service_code: 0,
            addresses: List::from_slice(addresses),
        }
    }

    /// Parses one complete transport TLV (its padding may follow).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::from_raw(&single_tlv(bytes)?)
    }

    // Inlined into the callers in optimized host builds only: unoptimized
    // frames of every inlined callee add up on deep stacks, and on a board
    // (`target_os = "none"`) the copies would cost flash (about 37 KB of
    // `.text` in the firmware example).
    #[cfg_attr(all(not(debug_assertions), not(target_os = "none")), inline(always))]
    #[cfg_attr(any(debug_assertions, target_os = "none"), inline)]
    pub(crate) fn from_raw(raw: &RawTlv<'a>) -> Result<Self, Error> {
        let (protocol, transport_use, count) = Self::check(raw)?;
        let v = raw.value;
        let dccp = protocol == TransportProtocol::Dccp;
        Ok(TransportParam {
            protocol,
            port: rd16(v, 0),
            transport_use,
            service_code: if dccp { rd32(v, 4) } else { 0 },
            addresses: List::from_wire(v.get(if dccp { 8 } else { 4 }..).unwrap_or(&[]), count),
        })
    }

    /// Validates a transport TLV without building the repr: its protocol,
    /// Transport Use and number of addresses, or the parse's typed error.
    #[cfg_attr(all(not(debug_assertions), not(target_os = "none")), inline(always))]
    #[cfg_attr(any(debug_assertions, target_os = "none"), inline)]
    pub(crate) fn check(
        raw: &RawTlv<'a>,
    ) -> Result<(TransportProtocol, TransportUse, usize), Error> {
        let protocol = TransportProtocol::from_parameter_type(raw.ty)
            .ok_or(Error::UnexpectedParameter { param_type: raw.ty })?;
        let fixed = if protocol == TransportProtocol::Dccp {
            8
        } else {
            4
        };
        let v = raw.value;
        if v.len() < fixed {
            return Err(Error::BadParameterLength { param_type: raw.ty });
        }
        let second = rd16(v, 2);
        let transport_use = match protocol {
            TransportProtocol::Sctp | TransportProtocol::Tcp => {
                TransportUse::from_value(second).ok_or(Error::InvalidTransportUse(second))?
            }
            _ => TransportUse::DataOnly,
        };
        let mut count = 0usize;
        for t in raw.nested(fixed) {
            let t = t?;
            if is_address(t.kind()) {
                check_address(&t)?;
                count += 1;
                if count > MAX_TRANSPORT_ADDRESSES {
                    return Err(TransportError::TooManyAddresses.into());
                }
            } else {
                t.reject()?;
            }
        }
        check_transport(protocol, transport_use, count)?;
        Ok((protocol, transport_use, count))
    }

    /// Reads a transport TLV (type `ty`, value `v`) of a validated message:
    /// what [`from_raw`](Self::from_raw) accepted, without checking it again.
    /// The addresses are counted by their TLV headers and decoded when
    /// iterated. `None` only for bytes no parse accepted.
    #[cfg_attr(all(not(debug_assertions), not(target_os = "none")), inline(always))]
    #[cfg_attr(any(debug_assertions, target_os = "none"), inline)]
    pub(crate) fn read_validated(ty: u16, v: &'a [u8]) -> Option<Self> {
        let protocol = TransportProtocol::from_parameter_type(ty)?;
        let dccp = protocol == TransportProtocol::Dccp;
        let region = v.get(if dccp { 8 } else { 4 }..)?;
        let transport_use = match protocol {
            TransportProtocol::Sctp | TransportProtocol::Tcp => {
                TransportUse::from_value(rd16(v, 2))?
            }
            _ => TransportUse::DataOnly,
        };
        let mut count = 0;
        let mut pos = 0;
        while let Some((t, _)) = next_validated(region, &mut pos) {
            count += usize::from(is_address_type(t));
        }
        Some(TransportParam {
            protocol,
            port: rd16(v, 0),
            transport_use,
            service_code: if dccp { rd32(v, 4) } else { 0 },
            addresses: List::from_wire(region, count),
        })
    }

    /// Copies the addresses into `out` and describes the transport as an
    /// [`TransportAddress`] borrowing them (parsed transports hold at most
    /// [`MAX_TRANSPORT_ADDRESSES`]; further addresses are left out).
    pub fn to_address<'b>(
        &self,
        out: &'b mut [IpAddr; MAX_TRANSPORT_ADDRESSES],
    ) -> TransportAddress<'b> {
        let mut n = 0;
        for (slot, a) in out.iter_mut().zip(self.addresses.iter()) {
            *slot = a;
            n += 1;
        }
        TransportAddress {
            protocol: self.protocol,
            port: self.port,
            transport_use: self.transport_use,
            service_code: self.service_code,
            addresses: out.get(..n).unwrap_or(&[]),
        }
    }

    /// Checks the address rules (see the type's documentation).
    pub fn validate(&self) -> Result<(), Error> {
        check_transport(self.protocol, self.transport_use, self.addresses.len())
    }

    /// The encoded size, padding included.
    pub fn buffer_len(&self) -> usize {
        let fixed = if self.protocol == TransportProtocol::Dccp {
            12
        } else {
            8
        };
        self.addresses.iter().fold(fixed, |n, a| {
            n + match a {
                IpAddr::V4(_) => 8,
                IpAddr::V6(_) => 20,
            }
        })
    }

    /// Writes the TLV into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut w = Writer::new(buf);
        self.write(&mut w)?;
        w.finish()
    }
}

fn check_transport(
    protocol: TransportProtocol,
    transport_use: TransportUse,
    count: usize,
) -> Result<(), Error> {
    let e = if count == 0 {
        TransportError::NoAddress
    } else if count > MAX_TRANSPORT_ADDRESSES {
        TransportError::TooManyAddresses
    } else if !protocol.is_multihomed() && count > 1 {
        TransportError::TooManyAddressesForProtocol
    } else if transport_use == TransportUse::DataAndControl
        && !matches!(protocol, TransportProtocol::Sctp | TransportProtocol::Tcp)
    {
        TransportError::ControlNotAllowed
    } else {
        return Ok(());
    };
    Err(e.into())
}

impl<'a> Sealed<'a> for TransportParam<'a> {
    fn next_from_wire(bytes: &'a [u8], pos: &mut usize) -> Option<Self> {
        loop {
            let (ty, v) = next_validated(bytes, pos)?;
            if TransportProtocol::from_parameter_type(ty).is_some() {
                return TransportParam::read_validated(ty, v);
            }
        }
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        self.validate()?;
        let s = w.begin(self.protocol.parameter_type());
        w.u16(self.port);
        match self.protocol {
            TransportProtocol::Sctp | TransportProtocol::Tcp => w.u16(self.transport_use.value()),
            _ => w.u16(0),
        }
        if self.protocol == TransportProtocol::Dccp {
            w.u32(self.service_code);
        }
        self.addresses.write(w)?;
        w.end(s);
        Ok(())
    }
}

impl<'a> From<TransportAddress<'a>> for TransportParam<'a> {
    fn from(t: TransportAddress<'a>) -> Self {
        TransportParam {
            protocol: t.protocol,
            port: t.port,
            transport_use: t.transport_use,
            service_code: t.service_code,
            addresses: List::from_slice(t.addresses),
        }
    }
}

impl fmt::Display for TransportParam<'_> {
    /// E.g. `SCTP:3863[10.0.0.1,::1] data+control`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}[", self.protocol, self.port)?;
        self.addresses.fmt_joined(f, ",")?;
        f.write_str("]")?;
        if self.protocol == TransportProtocol::Dccp {
            write!(f, " service={:#x}", self.service_code)?;
        }
        f.write_str(match self.transport_use {
            TransportUse::DataOnly => " data",
            TransportUse::DataAndControl => " data+control",
        })
    }
}

/// The user transport of a pool element: a transport parameter, or an
/// Opaque Transport (0x0010, RFC 5354 §3.8) with its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserTransport<'a> {
    /// A DCCP/SCTP/TCP/UDP/UDP-Lite transport.
    Transport(TransportParam<'a>),
    /// An Opaque Transport's value.
    Opaque(&'a [u8]),
}

impl<'a> UserTransport<'a> {
    fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        match self {
            UserTransport::Transport(t) => t.write(w),
            UserTransport::Opaque(b) => {
                write_opaque(w, ParamType::OpaqueTransport, b);
                Ok(())
            }
        }
    }
    /// The transport parameter, unless opaque.
    pub const fn transport(&self) -> Option<&TransportParam<'a>> {
        match self {
            UserTransport::Transport(t) => Some(t),
            UserTransport::Opaque(_) => None,
        }
    }
}

impl<'a> From<TransportParam<'a>> for UserTransport<'a> {
    fn from(t: TransportParam<'a>) -> Self {
        UserTransport::Transport(t)
    }
}

impl fmt::Display for UserTransport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UserTransport::Transport(t) => write!(f, "{t}"),
            UserTransport::Opaque(b) => {
                f.write_str("opaque:")?;
                fmt_hex(f, b)
            }
        }
    }
}

pub(crate) fn fmt_hex(f: &mut fmt::Formatter<'_>, b: &[u8]) -> fmt::Result {
    for x in b {
        write!(f, "{x:02x}")?;
    }
    Ok(())
}

/// Writes a pool handle as [`PoolHandle`](crate::PoolHandle)'s Display does.
pub(crate) fn fmt_handle(f: &mut fmt::Formatter<'_>, h: &[u8]) -> fmt::Result {
    for &b in h {
        if (0x20..0x7f).contains(&b) && b != b'\\' && b != b'"' {
            write!(f, "{}", b as char)?;
        } else {
            write!(f, "\\x{b:02x}")?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Policy

/// A Pool Member Selection Policy parameter (0x0008, RFC 5356): a policy this
/// crate knows, or an unknown policy type kept with its raw data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyParam<'a> {
    /// A policy of SPEC §12.2 with its parameters.
    Known(Policy),
    /// Any other policy type, with the bytes after the type.
    Unknown {
        /// The policy type.
        policy_type: u32,
        /// The policy-specific data.
        data: &'a [u8],
    },
}

impl<'a> PolicyParam<'a> {
    /// The policy type identifier.
    pub const fn policy_type(&self) -> u32 {
        match self {
            PolicyParam::Known(p) => p.policy_type(),
            PolicyParam::Unknown { policy_type, .. } => *policy_type,
        }
    }
    /// The policy, if known.
    pub const fn policy(&self) -> Option<Policy> {
        match self {
            PolicyParam::Known(p) => Some(*p),
            PolicyParam::Unknown { .. } => None,
        }
    }
    /// Parses one complete policy TLV (its padding may follow).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::from_raw(&single_tlv(bytes)?)
    }
    #[inline]
    pub(crate) fn from_raw(raw: &RawTlv<'a>) -> Result<Self, Error> {
        if raw.kind() != ParamType::Policy {
            return Err(Error::UnexpectedParameter { param_type: raw.ty });
        }
        Self::from_value(raw.value)
    }
    /// Parses the value of a policy TLV.
    #[cfg_attr(all(not(debug_assertions), not(target_os = "none")), inline(always))]
    #[cfg_attr(any(debug_assertions, target_os = "none"), inline)]
    fn from_value(v: &'a [u8]) -> Result<Self, Error> {
        if v.len() < 4 {
            return Err(Error::BadParameterLength {
                param_type: ParamType::Policy.raw(),
            });
        }
        let policy_type = rd32(v, 0);
        let data = v.get(4..).unwrap_or(&[]);
        match Policy::parameter_count(policy_type) {
            None => Ok(PolicyParam::Unknown { policy_type, data }),
            Some(_) if data.len() % 4 != 0 => Err(Error::BadParameterLength {
                param_type: ParamType::Policy.raw(),
            }),
            Some(n) if data.len() / 4 != n => {
                Err(Error::Policy(PolicyError::WrongParameterCount {
                    policy_type,
                    expected: n,
                    found: data.len() / 4,
                }))
            }
            Some(n) => {
                let mut params = [0u32; MAX_POLICY_PARAMS];
                for (i, p) in params.iter_mut().take(n).enumerate() {
                    *p = rd32(data, 4 * i);
                }
                Ok(PolicyParam::Known(Policy::from_parameters(
                    policy_type,
                    params.get(..n).unwrap_or(&[]),
                )?))
            }
        }
    }
    pub(crate) fn write(&self, w: &mut Writer<'_>) {
        let s = w.begin_param(ParamType::Policy);
        w.u32(self.policy_type());
        match self {
            PolicyParam::Known(p) => {
                let (params, n) = p.parameters();
                for v in params.iter().take(n) {
                    w.u32(*v);
                }
            }
            PolicyParam::Unknown { data, .. } => w.bytes(data),
        }
        w.end(s);
    }
    /// The encoded size, padding included.
    pub fn buffer_len(&self) -> usize {
        padded(
            8 + match self {
                PolicyParam::Known(p) => 4 * p.parameters().1,
                PolicyParam::Unknown { data, .. } => data.len(),
            },
        )
    }
    /// Writes the TLV into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut w = Writer::new(buf);
        self.write(&mut w);
        w.finish()
    }
}

impl From<Policy> for PolicyParam<'_> {
    fn from(p: Policy) -> Self {
        PolicyParam::Known(p)
    }
}

impl fmt::Display for PolicyParam<'_> {
    /// A known policy as [`Policy`]'s Display (`LUD(0x10,0x2)`), an unknown
    /// one as `policy 0xa0000001(0011aabb)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyParam::Known(p) => write!(f, "{p}"),
            PolicyParam::Unknown { policy_type, data } => {
                write!(f, "policy {policy_type:#010x}(")?;
                fmt_hex(f, data)?;
                f.write_str(")")
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Pool element

/// A Pool Element parameter (0x000A, RFC 5354 §3.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolElementParam<'a> {
    /// The PE identifier (non-zero).
    pub pe_id: PeId,
    /// The home registrar; `None` is sent as 0 (not yet determined).
    pub home_server: Option<ServerId>,
    /// Registration life, signed; [`REGISTRATION_LIFE_INFINITE`] (-1) means
    /// infinite. RFC 5354 says seconds, rsplib and Wireshark milliseconds:
    /// the codec carries the number unchanged.
    pub registration_life: i32,
    /// The transport the PE serves users on.
    pub user_transport: UserTransport<'a>,
    /// The PE's member selection policy.
    pub policy: PolicyParam<'a>,
    /// The transport the PE's registrar reaches it on for ASAP (filled by
    /// the registrar).
    pub asap_transport: Option<TransportParam<'a>>,
}

impl<'a> PoolElementParam<'a> {
    /// The PE Identifier of an encoded Pool Element parameter (the complete
    /// TLV, as [`find_parameter`](super::find_parameter) returns it), read
    /// without parsing the rest, so also from one that fails to parse.
    /// `None` when the value is shorter than 4 bytes or the identifier is 0.
    pub fn pe_id_of(tlv: &[u8]) -> Option<PeId> {
        let value = tlv.get(TLV_HEADER_LEN..).unwrap_or(&[]);
        PeId::new(rd32(value, 0)).ok()
    }

    /// Parses one complete Pool Element TLV (its padding may follow).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::from_raw(&single_tlv(bytes)?)
    }

    /// Parses a Pool Element TLV: [`check`](Self::check), then
    /// [`read_validated`](Self::read_validated).
    #[cfg_attr(all(not(debug_assertions), not(target_os = "none")), inline(always))]
    #[cfg_attr(any(debug_assertions, target_os = "none"), inline)]
    pub(crate) fn from_raw(raw: &RawTlv<'a>) -> Result<Self, Error> {
        Self::check(raw)?;
        Self::read_validated(raw.value).ok_or(Error::BadParameterLength { param_type: raw.ty })
    }

    /// Validates a Pool Element TLV without building the repr: every check
    /// of the parse, with its typed error. Lists of pool elements are
    /// validated by this when the message is parsed and read item by item
    /// with [`read_validated`](Self::read_validated).
    #[cfg_attr(all(not(debug_assertions), not(target_os = "none")), inline(always))]
    #[cfg_attr(any(debug_assertions, target_os = "none"), inline)]
    pub(crate) fn check(raw: &RawTlv<'a>) -> Result<(), Error> {
        if raw.kind() != ParamType::PoolElement {
            return Err(Error::UnexpectedParameter { param_type: raw.ty });
        }
        let v = raw.value;
        if v.len() < 12 {
            return Err(Error::BadParameterLength { param_type: raw.ty });
        }
        PeId::new(rd32(v, 0))?;
        let registration_life = rd32(v, 8) as i32;
        if registration_life < REGISTRATION_LIFE_INFINITE {
            return Err(Error::InvalidRegistrationLife(registration_life));
        }
        let mut user_transport = false;
        let mut policy = false;
        let mut asap_transport = false;
        for t in raw.nested(12) {
            let t = t?;
            let is_transport = TransportProtocol::from_parameter_type(t.ty).is_some();
            if !policy {
                if t.kind() == ParamType::Policy {
                    if !user_transport {
                        return Err(Error::MissingParameter {
                            param_type: ParamType::SctpTransport.raw(),
                        });
                    }
                    PolicyParam::from_value(t.value)?;
                    policy = true;
                } else if is_transport || t.kind() == ParamType::OpaqueTransport {
                    if user_transport {
                        return Err(Error::DuplicateParameter { param_type: t.ty });
                    }
                    if is_transport {
                        TransportParam::check(&t)?;
                    }
                    user_transport = true;
                } else {
                    t.reject()?;
                }
            } else if t.kind() == ParamType::Policy {
                return Err(Error::DuplicateParameter { param_type: t.ty });
            } else if is_transport {
                if asap_transport {
                    return Err(Error::DuplicateParameter { param_type: t.ty });
                }
                TransportParam::check(&t)?;
                asap_transport = true;
            } else {
                t.reject()?;
            }
        }
        if !user_transport {
            return Err(Error::MissingParameter {
                param_type: ParamType::SctpTransport.raw(),
            });
        }
        if !policy {
            return Err(Error::MissingParameter {
                param_type: ParamType::Policy.raw(),
            });
        }
        Ok(())
    }

    /// Reads the value of a Pool Element TLV of a validated message: what
    /// [`from_raw`](Self::from_raw) accepted, without checking it again (the
    /// transports' addresses are decoded when iterated). `None` only for
    /// bytes no parse accepted.
    #[cfg_attr(all(not(debug_assertions), not(target_os = "none")), inline(always))]
    #[cfg_attr(any(debug_assertions, target_os = "none"), inline)]
    pub(crate) fn read_validated(v: &'a [u8]) -> Option<Self> {
        const POLICY: u16 = ParamType::Policy.raw();
        const OPAQUE: u16 = ParamType::OpaqueTransport.raw();
        let pe_id = PeId::new(rd32(v, 0)).ok()?;
        let home_server = ServerId::new(rd32(v, 4)).ok();
        let registration_life = rd32(v, 8) as i32;
        let region = v.get(12..)?;
        let mut user_transport = None;
        let mut policy = None;
        let mut asap_transport = None;
        let mut pos = 0;
        while let Some((ty, value)) = next_validated(region, &mut pos) {
            match ty {
                POLICY => policy = Some(PolicyParam::from_value(value).ok()?),
                OPAQUE => user_transport = Some(UserTransport::Opaque(value)),
                _ => {
                    if TransportProtocol::from_parameter_type(ty).is_some() {
                        let t = TransportParam::read_validated(ty, value)?;
                        if policy.is_none() {
                            user_transport = Some(UserTransport::Transport(t));
                        } else {
                            asap_transport = Some(t);
                        }
                    }
                }
            }
        }
        Some(PoolElementParam {
            pe_id,
            home_server,
            registration_life,
            user_transport: user_transport?,
            policy: policy?,
            asap_transport,
        })
    }

    /// The encoded size, padding included.
    pub fn buffer_len(&self) -> usize {
        let user = match &self.user_transport {
            UserTransport::Transport(t) => t.buffer_len(),
            UserTransport::Opaque(b) => padded(4 + b.len()),
        };
        16 + user + self.policy.buffer_len() + self.asap_transport.map_or(0, |t| t.buffer_len())
    }

    /// Writes the TLV into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut w = Writer::new(buf);
        self.write(&mut w)?;
        w.finish()
    }

    /// Whether the registration never expires.
    pub const fn is_infinite(&self) -> bool {
        self.registration_life == REGISTRATION_LIFE_INFINITE
    }
}

impl<'a> Sealed<'a> for PoolElementParam<'a> {
    fn next_from_wire(bytes: &'a [u8], pos: &mut usize) -> Option<Self> {
        loop {
            let (ty, v) = next_validated(bytes, pos)?;
            if ty == ParamType::PoolElement.raw() {
                return PoolElementParam::read_validated(v);
            }
        }
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        if self.registration_life < REGISTRATION_LIFE_INFINITE {
            return Err(Error::InvalidRegistrationLife(self.registration_life));
        }
        let s = w.begin_param(ParamType::PoolElement);
        w.u32(self.pe_id.get());
        w.u32(self.home_server.map_or(0, ServerId::get));
        w.u32(self.registration_life as u32);
        self.user_transport.write(w)?;
        self.policy.write(w);
        if let Some(t) = &self.asap_transport {
            t.write(w)?;
        }
        w.end(s);
        Ok(())
    }
}

impl fmt::Display for PoolElementParam<'_> {
    /// E.g. `PE 0x12345678 home=none life=-1 user=SCTP:5000[10.0.0.1] data policy=RR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PE {} home=", self.pe_id)?;
        match self.home_server {
            Some(s) => write!(f, "{s}")?,
            None => f.write_str("none")?,
        }
        write!(
            f,
            " life={} user={} policy={}",
            self.registration_life, self.user_transport, self.policy
        )?;
        if let Some(t) = &self.asap_transport {
            write!(f, " asap={t}")?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// Server information

/// A Server Information parameter (0x000B, RFC 5354 §3.11): a registrar's
/// identifier and the transport to reach it on (an SCTP transport; any
/// transport protocol is accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerInfoParam<'a> {
    /// The registrar's identifier.
    pub server_id: ServerId,
    /// Where it listens.
    pub transport: TransportParam<'a>,
}

impl<'a> ServerInfoParam<'a> {
    /// Parses one complete Server Information TLV (its padding may follow).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        Self::from_raw(&single_tlv(bytes)?)
    }
    pub(crate) fn from_raw(raw: &RawTlv<'a>) -> Result<Self, Error> {
        let (id, transport) = Self::parts(raw)?;
        Ok(ServerInfoParam {
            server_id: ServerId::new(id)?,
            transport,
        })
    }
    /// Parses a Server Information TLV of a list (ENRP_LIST_RESPONSE):
    /// `Ok(None)` for an otherwise valid entry with server id 0, which
    /// rsplib sends for a configured peer it has not heard from yet (a
    /// registrar at that address, id unknown); lists skip such entries.
    pub(crate) fn from_raw_listed(raw: &RawTlv<'a>) -> Result<Option<Self>, Error> {
        let (id, transport) = Self::parts(raw)?;
        if id == 0 {
            return Ok(None);
        }
        Ok(Some(ServerInfoParam {
            server_id: ServerId::new(id)?,
            transport,
        }))
    }
    /// The raw server id and the transport.
    fn parts(raw: &RawTlv<'a>) -> Result<(u32, TransportParam<'a>), Error> {
        if raw.kind() != ParamType::ServerInformation {
            return Err(Error::UnexpectedParameter { param_type: raw.ty });
        }
        if raw.value.len() < 4 {
            return Err(Error::BadParameterLength { param_type: raw.ty });
        }
        let server_id = rd32(raw.value, 0);
        let mut transport = None;
        for t in raw.nested(4) {
            let t = t?;
            if TransportProtocol::from_parameter_type(t.ty).is_some() {
                if transport.is_some() {
                    return Err(Error::DuplicateParameter { param_type: t.ty });
                }
                transport = Some(TransportParam::from_raw(&t)?);
            } else {
                t.reject()?;
            }
        }
        Ok((
            server_id,
            transport.ok_or(Error::MissingParameter {
                param_type: ParamType::SctpTransport.raw(),
            })?,
        ))
    }
    /// The encoded size, padding included.
    pub fn buffer_len(&self) -> usize {
        8 + self.transport.buffer_len()
    }
    /// Writes the TLV into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut w = Writer::new(buf);
        self.write(&mut w)?;
        w.finish()
    }
}

impl<'a> Sealed<'a> for ServerInfoParam<'a> {
    fn next_from_wire(bytes: &'a [u8], pos: &mut usize) -> Option<Self> {
        loop {
            let (ty, v) = next_validated(bytes, pos)?;
            if ty != ParamType::ServerInformation.raw() {
                continue;
            }
            // Server id 0: skipped (counted out when validated).
            let Ok(server_id) = ServerId::new(rd32(v, 0)) else {
                continue;
            };
            let region = v.get(4..)?;
            let mut at = 0;
            let transport = loop {
                let (t, tv) = next_validated(region, &mut at)?;
                if TransportProtocol::from_parameter_type(t).is_some() {
                    break TransportParam::read_validated(t, tv)?;
                }
            };
            return Some(ServerInfoParam {
                server_id,
                transport,
            });
        }
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        let s = w.begin_param(ParamType::ServerInformation);
        w.u32(self.server_id.get());
        self.transport.write(w)?;
        w.end(s);
        Ok(())
    }
}

impl fmt::Display for ServerInfoParam<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "server {} {}", self.server_id, self.transport)
    }
}

// ---------------------------------------------------------------------------
// Pool entries (ENRP_HANDLE_TABLE_RESPONSE)

/// One pool of an ENRP_HANDLE_TABLE_RESPONSE: a Pool Handle parameter
/// followed by one or more Pool Element parameters (RFC 5353 §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PoolEntry<'a> {
    /// The pool handle's bytes.
    pub pool_handle: &'a [u8],
    /// The pool's elements (at least one).
    pub elements: List<'a, PoolElementParam<'a>>,
}

impl<'a> PoolEntry<'a> {
    /// An entry over the caller's elements.
    pub const fn new(pool_handle: &'a [u8], elements: &'a [PoolElementParam<'a>]) -> Self {
        PoolEntry {
            pool_handle,
            elements: List::from_slice(elements),
        }
    }
    /// The encoded size, padding included.
    pub fn buffer_len(&self) -> usize {
        padded(4 + self.pool_handle.len())
            + self.elements.iter().map(|e| e.buffer_len()).sum::<usize>()
    }
}

impl<'a> Sealed<'a> for PoolEntry<'a> {
    fn next_from_wire(bytes: &'a [u8], pos: &mut usize) -> Option<Self> {
        let handle = next_of(bytes, pos, |t| t == ParamType::PoolHandle)?;
        let start = *pos;
        let mut t = Tlvs::at(bytes, start);
        let mut end = start;
        let mut count = 0;
        while let Some(Ok(raw)) = t.next_tlv() {
            if raw.kind() == ParamType::PoolHandle {
                break;
            }
            if raw.kind() == ParamType::PoolElement {
                count += 1;
            }
            end = t.pos();
        }
        *pos = end;
        Some(PoolEntry {
            pool_handle: handle.value,
            elements: List::from_wire(bytes.get(start..end).unwrap_or(&[]), count),
        })
    }
    fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        if self.elements.is_empty() {
            return Err(Error::MissingParameter {
                param_type: ParamType::PoolElement.raw(),
            });
        }
        write_handle(w, self.pool_handle)?;
        self.elements.write(w)
    }
}

impl fmt::Display for PoolEntry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pool=")?;
        fmt_handle(f, self.pool_handle)?;
        f.write_str(" {")?;
        self.elements.fmt_joined(f, "; ")?;
        f.write_str("}")
    }
}
