//! The ASAP (RFC 5352) and ENRP (RFC 5353) wire codec with the parameters of
//! RFC 5354 and rsplib's extensions.
//!
//! # Shape
//!
//! * Views over buffers, smoltcp style: [`MessageHeader`] and [`Tlv`]
//!   (checked constructors, field accessors and setters).
//! * Reprs that `parse` from borrowed bytes and `emit` into caller buffers:
//!   [`AsapMessage`] (one variant per ASAP message), [`EnrpMessage`] (server
//!   identifiers + [`EnrpBody`], one variant per ENRP message), and the
//!   parameters [`TransportParam`], [`PolicyParam`], [`PoolElementParam`],
//!   [`ServerInfoParam`], [`OperationError`]/[`ErrorCause`], [`PoolEntry`].
//!   [`Message`] wraps either protocol.
//! * Nothing is allocated or copied when parsing: pool handles, cookies and
//!   opaque data are sub-slices of the input, and lists (addresses, PEs,
//!   transports, server informations, causes, pool entries) are [`List`]s,
//!   lazy views over the input that decode each item as it is iterated. A
//!   HANDLE_TABLE_RESPONSE with thousands of PEs is validated in one pass
//!   and then read item by item.
//! * To emit a message with lists, give [`List::from_slice`] slices of
//!   reprs (which may borrow further slices, e.g. the addresses of a
//!   transport): no heap is needed. To produce list items on the fly
//!   instead (e.g. from handlespace storage, without collecting them), or
//!   to fill a response with as many items as fit, use [`MessageBuilder`],
//!   which appends one parameter at a time. A parsed message can be emitted again as
//!   it is. `emit` writes into `&mut [u8]` and returns the length, or
//!   [`Error::BufferTooSmall`] with the exact size needed; `buffer_len()`
//!   gives that size up front.
//!
//! # Example
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use rserpool::addr::{TransportProtocol, TransportUse};
//! use rserpool::wire::{AsapMessage, Error, PoolElementParam, TransportParam};
//! use rserpool::{PeId, Policy};
//!
//! // Build and emit a registration: the reprs borrow the caller's data.
//! let addresses = [IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))];
//! let registration = AsapMessage::Registration {
//!     pool_handle: b"EchoPool",
//!     pool_element: PoolElementParam {
//!         pe_id: PeId::new(0x1234_5678).unwrap(),
//!         home_server: None,
//!         registration_life: 30_000,
//!         user_transport: TransportParam::new(
//!             TransportProtocol::Sctp,
//!             7,
//!             TransportUse::DataAndControl,
//!             &addresses,
//!         )
//!         .into(),
//!         policy: Policy::LeastUsed { load: 0 }.into(),
//!         asap_transport: None,
//!     },
//! };
//! let mut buf = [0u8; 256];
//! let len = registration.emit(&mut buf)?;
//! assert_eq!(len, registration.buffer_len());
//!
//! // Parse it back: the result borrows `buf`.
//! let parsed = AsapMessage::parse(&buf[..len])?;
//! assert_eq!(parsed, registration);
//! if let AsapMessage::Registration { pool_element, .. } = parsed {
//!     let user = pool_element.user_transport.transport().unwrap();
//!     assert_eq!(user.addresses.iter().next(), Some(addresses[0]));
//! }
//!
//! // A buffer that is too small says how much is needed.
//! assert_eq!(
//!     registration.emit(&mut buf[..8]),
//!     Err(Error::BufferTooSmall { needed: len })
//! );
//! # Ok::<(), Error>(())
//! ```
//!
//! # Framing rules
//!
//! * The Message Length must not exceed the input; the input may hold at
//!   most 3 bytes of padding after the message ([`Error::Truncated`],
//!   [`Error::TrailingBytes`]). Every parameter length must fit in its
//!   enclosing message or parameter, and fixed-size parameters must have
//!   their exact size.
//! * Nested padding: RFC 5354 leaves the last nested parameter's padding out
//!   of the enclosing length, rsplib counts it in. Both are accepted.
//!   Emitting follows rsplib: every message and container length includes
//!   the padding of its last parameter, so every emitted length except that
//!   of a leaf parameter is a multiple of 4 (SPEC §15.9). Wireshark's
//!   dissector (tshark 4.0) decodes both forms cleanly, since it clamps
//!   each parameter to what remains, and rsplib's parser rounds every
//!   length up to 4, so it reads both as well.
//! * Padding bytes are ignored on receipt whatever their value (RFC 5354
//!   §2-§3: "the receiver MUST ignore the padding"); emitted padding is zero.
//! * Parameters may come in any order at message level; inside a Pool
//!   Element the order is fixed (user transport, policy, ASAP transport).
//! * Unknown parameter types follow their upper two bits ([`ParamAction`]):
//!   stop → [`Error::UnrecognizedParameter`] (with [`Error::offending_bytes`]
//!   for the cause), skip → ignored; use [`unrecognized_parameters`] to list
//!   the skipped ones that ask to be reported. Unknown message types fail
//!   with [`Error::UnrecognizedMessage`] ([`MessageAction`]).
//! * Nesting depth is fixed by the grammar (message → pool element / server
//!   information → transport → address); nothing recurses on input.

mod asap;
mod builder;
pub mod calcapp;
mod enrp;
mod error;
mod field;
mod list;
mod message;
mod operror;
mod param;
mod types;

use core::fmt;

pub use asap::{asap_flags, AsapMessage};
pub use builder::MessageBuilder;
pub use enrp::{enrp_flags, EnrpBody, EnrpMessage, UpdateAction};
pub use error::{Error, MessageAction, ParamAction};
pub use field::{padded, parameter_len, MessageHeader, Tlv, HEADER_LEN, TLV_HEADER_LEN};
pub use list::{List, ListItem, ListIter};
pub use operror::{CauseData, ErrorCause, OperationError};
pub use param::{
    PolicyParam, PoolElementParam, PoolEntry, ServerInfoParam, TransportParam, UserTransport,
    REGISTRATION_LIFE_INFINITE,
};

pub use types::{asap_type, enrp_type, param_type, AsapType, EnrpType, ParamType};

use field::Tlvs;

/// The SCTP payload protocol identifier of ASAP (RFC 5352 §8.3).
pub const ASAP_PPID: u32 = 11;
/// The SCTP payload protocol identifier of ENRP (RFC 5353 §5.4).
pub const ENRP_PPID: u32 = 12;
/// The ASAP port for SCTP, TCP and UDP (RFC 5352 §8.2).
pub const ASAP_PORT: u16 = 3863;
/// The ASAP port over TLS (RFC 5352 §8.2).
pub const ASAP_TLS_PORT: u16 = 3864;
/// The ENRP port for SCTP and UDP (RFC 5353 §5.3).
pub const ENRP_PORT: u16 = 9901;
/// The ENRP port over TLS (RFC 5353 §5.3).
pub const ENRP_TLS_PORT: u16 = 9902;

/// ASAP or ENRP: the two message type spaces (told apart by SCTP PPID or port).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Protocol {
    /// ASAP (RFC 5352).
    Asap,
    /// ENRP (RFC 5353).
    Enrp,
}

impl Protocol {
    /// The SCTP payload protocol identifier.
    pub const fn ppid(self) -> u32 {
        match self {
            Protocol::Asap => ASAP_PPID,
            Protocol::Enrp => ENRP_PPID,
        }
    }
    /// The well-known port.
    pub const fn port(self) -> u16 {
        match self {
            Protocol::Asap => ASAP_PORT,
            Protocol::Enrp => ENRP_PORT,
        }
    }
    /// The protocol of an SCTP payload protocol identifier.
    pub const fn from_ppid(ppid: u32) -> Option<Self> {
        match ppid {
            ASAP_PPID => Some(Protocol::Asap),
            ENRP_PPID => Some(Protocol::Enrp),
            _ => None,
        }
    }
    /// Bytes of fixed fields between the header and the parameters of a
    /// message type (0 for unknown types).
    const fn fixed_len(self, message_type: u8) -> usize {
        match self {
            Protocol::Asap => match AsapType::from_raw(message_type) {
                AsapType::EndpointKeepAlive | AsapType::ServerAnnounce => 4,
                _ => 0,
            },
            Protocol::Enrp => match EnrpType::from_raw(message_type) {
                EnrpType::HandleUpdate
                | EnrpType::InitTakeover
                | EnrpType::InitTakeoverAck
                | EnrpType::TakeoverServer => 12,
                _ => 8,
            },
        }
    }
}

/// An ASAP or ENRP message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// An ASAP message.
    Asap(AsapMessage<'a>),
    /// An ENRP message.
    Enrp(EnrpMessage<'a>),
}

impl<'a> Message<'a> {
    /// Parses a message of `protocol`.
    pub fn parse(protocol: Protocol, bytes: &'a [u8]) -> Result<Self, Error> {
        match protocol {
            Protocol::Asap => AsapMessage::parse(bytes).map(Message::Asap),
            Protocol::Enrp => EnrpMessage::parse(bytes).map(Message::Enrp),
        }
    }
    /// The message's protocol.
    pub const fn protocol(&self) -> Protocol {
        match self {
            Message::Asap(_) => Protocol::Asap,
            Message::Enrp(_) => Protocol::Enrp,
        }
    }
    /// The exact number of bytes `emit` writes.
    pub fn buffer_len(&self) -> usize {
        match self {
            Message::Asap(m) => m.buffer_len(),
            Message::Enrp(m) => m.buffer_len(),
        }
    }
    /// Writes the message into `buf`; returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        match self {
            Message::Asap(m) => m.emit(buf),
            Message::Enrp(m) => m.emit(buf),
        }
    }
}

impl fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Message::Asap(m) => write!(f, "{m}"),
            Message::Enrp(m) => write!(f, "{m}"),
        }
    }
}

/// A parameter of unknown type found in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Unrecognized<'a> {
    /// The parameter type.
    pub param_type: u16,
    /// What its upper two bits ask for.
    pub action: ParamAction,
    /// The complete TLV without padding: the information of an Unrecognized
    /// Parameter cause ([`ErrorCause::unrecognized_parameter`]).
    pub tlv: &'a [u8],
}

/// Every parameter of unknown type in a message of `protocol`, at any depth
/// (inside pool elements, server information and transports too; error
/// causes are not searched), in wire order.
///
/// After a successful parse these are the skipped ones; report those whose
/// [`ParamAction::reports`] is true. Reading stops at the first malformed
/// length. Needs no allocation: the nesting depth is bounded by the grammar.
pub fn unrecognized_parameters(protocol: Protocol, message: &[u8]) -> UnrecognizedParameters<'_> {
    let h = MessageHeader::new_unchecked(message);
    let fixed = HEADER_LEN + protocol.fixed_len(h.message_type());
    let end = usize::from(h.length()).min(message.len());
    let top = Tlvs::new(message.get(fixed..end).unwrap_or(&[]), fixed);
    UnrecognizedParameters {
        stack: [top, Tlvs::new(&[], 0), Tlvs::new(&[], 0)],
        depth: 1,
    }
}

/// After a failed parse, the first top-level parameter of `message` that is
/// itself invalid (or of unknown type with a "stop" action): the complete
/// TLV without padding, for an Invalid Values cause
/// ([`ErrorCause::invalid_values`]). A problem inside a pool element, server
/// information or transport yields that whole enclosing parameter. `None`
/// when every parameter is valid on its own (the message lacks a parameter,
/// repeats one, carries one that does not belong there, or its header or
/// fixed fields are wrong). A parameter
/// whose length field is malformed yields the rest of the message from it on.
pub fn offending_parameter(protocol: Protocol, message: &[u8]) -> Option<&[u8]> {
    let h = MessageHeader::new_unchecked(message);
    let fixed = HEADER_LEN + protocol.fixed_len(h.message_type());
    let end = usize::from(h.length()).min(message.len());
    let mut tlvs = Tlvs::new(message.get(fixed..end).unwrap_or(&[]), fixed);
    loop {
        let at = fixed + tlvs.pos();
        let t = match tlvs.next_tlv()? {
            Ok(t) => t,
            // A malformed length: the rest of the message from that TLV on.
            Err(_) => return message.get(at..end),
        };
        let valid = match t.kind() {
            ParamType::Ipv4Address => t.value.len() == 4,
            ParamType::Ipv6Address => t.value.len() == 16,
            ParamType::DccpTransport
            | ParamType::SctpTransport
            | ParamType::TcpTransport
            | ParamType::UdpTransport
            | ParamType::UdpLiteTransport => TransportParam::from_raw(&t).is_ok(),
            ParamType::Policy => PolicyParam::from_raw(&t).is_ok(),
            ParamType::PoolHandle => param::check_handle(t.value).is_ok(),
            ParamType::PoolElement => PoolElementParam::from_raw(&t).is_ok(),
            // Server id 0 is valid in a LIST_RESPONSE (an entry skipped).
            ParamType::ServerInformation
                if protocol == Protocol::Enrp && h.enrp_type() == EnrpType::ListResponse =>
            {
                ServerInfoParam::from_raw_listed(&t).is_ok()
            }
            ParamType::ServerInformation => ServerInfoParam::from_raw(&t).is_ok(),
            ParamType::OperationError => OperationError::from_raw(&t).is_ok(),
            ParamType::Cookie | ParamType::OpaqueTransport => true,
            ParamType::PeIdentifier => param::parse_pe_id(&t).is_ok(),
            ParamType::PeChecksum => param::parse_checksum(&t).is_ok(),
            ParamType::HandleResolutionOption => param::parse_u32(&t).is_ok(),
            _ => t.unknown().is_ok(),
        };
        if !valid {
            return Some(t.bytes);
        }
    }
}

/// The first top-level parameter of type `param_type` in a message of
/// `protocol` (after the header and the fixed fields of its message type):
/// the complete TLV without padding.
///
/// The message is scanned, not parsed, so this also reads a message that
/// failed to parse (e.g. the Pool Element of a refused registration, for an
/// Invalid Values cause). `None` when no such parameter comes before the
/// end of the message or before the first malformed parameter length.
pub fn find_parameter(protocol: Protocol, message: &[u8], param_type: ParamType) -> Option<&[u8]> {
    let h = MessageHeader::new_unchecked(message);
    let fixed = HEADER_LEN + protocol.fixed_len(h.message_type());
    let end = usize::from(h.length()).min(message.len());
    Tlvs::new(message.get(fixed..end).unwrap_or(&[]), fixed)
        .map_while(Result::ok)
        .find(|t| t.kind() == param_type)
        .map(|t| t.bytes)
}

/// Iterator returned by [`unrecognized_parameters`].
#[derive(Clone, Debug)]
pub struct UnrecognizedParameters<'a> {
    stack: [Tlvs<'a>; 3],
    depth: usize,
}

impl<'a> Iterator for UnrecognizedParameters<'a> {
    type Item = Unrecognized<'a>;
    fn next(&mut self) -> Option<Unrecognized<'a>> {
        while self.depth > 0 {
            let top = self.stack.get_mut(self.depth - 1)?;
            let raw = match top.next_tlv() {
                Some(Ok(raw)) => raw,
                _ => {
                    self.depth -= 1;
                    continue;
                }
            };
            if !raw.kind().is_known() {
                return Some(Unrecognized {
                    param_type: raw.ty,
                    action: ParamAction::of(raw.ty),
                    tlv: raw.bytes,
                });
            }
            let nested = match raw.kind() {
                ParamType::DccpTransport => Some(8),
                ParamType::SctpTransport
                | ParamType::TcpTransport
                | ParamType::UdpTransport
                | ParamType::UdpLiteTransport => Some(4),
                ParamType::PoolElement => Some(12),
                ParamType::ServerInformation => Some(4),
                _ => None,
            };
            if let (Some(fixed), Some(slot)) = (nested, self.stack.get_mut(self.depth)) {
                *slot = raw.nested(fixed);
                self.depth += 1;
            }
        }
        None
    }
}

#[cfg(test)]
mod tests;
