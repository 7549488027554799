//! ENRP messages (RFC 5353 §2): [`EnrpMessage`] = sender and receiver
//! server identifiers + [`EnrpBody`].

use core::fmt;

use super::asap::Handle;
use super::error::Error;
use super::field::{rd16, rd32, Writer, HEADER_LEN};
use super::list::{sealed::Sealed, List};
use super::message::{begin, bit, collect, finish, measure, missing, Opened, Repeated};
use super::operror::OperationError;
use super::param::{write_checksum, write_handle, PoolElementParam, PoolEntry, ServerInfoParam};
use super::types::{EnrpType, ParamType};
use crate::id::ServerId;

/// ENRP message flags (masks on the flags byte).
pub mod enrp_flags {
    /// PRESENCE `R`: reply required.
    pub const REPLY_REQUIRED: u8 = 0x01;
    /// HANDLE_TABLE_REQUEST `W`: own children only.
    pub const OWN_CHILDREN_ONLY: u8 = 0x01;
    /// HANDLE_TABLE_RESPONSE `R` and LIST_RESPONSE `R`: rejected.
    pub const REJECT: u8 = 0x01;
    /// HANDLE_TABLE_RESPONSE `M`: more to send.
    pub const MORE_TO_SEND: u8 = 0x02;
    /// HANDLE_UPDATE `T`: takeover suggested (draft-dreibholz-rserpool-enrp-takeover).
    pub const TAKEOVER_SUGGESTED: u8 = 0x01;
}

/// The Update Action of an ENRP_HANDLE_UPDATE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum UpdateAction {
    /// 0x0000 ADD_PE: add the PE, or update it.
    AddPe,
    /// 0x0001 DEL_PE: remove the PE.
    DelPe,
}

impl UpdateAction {
    /// The wire value.
    pub const fn value(self) -> u16 {
        match self {
            UpdateAction::AddPe => 0,
            UpdateAction::DelPe => 1,
        }
    }
    /// The action for a wire value (others are reserved).
    pub const fn from_value(v: u16) -> Option<Self> {
        match v {
            0 => Some(UpdateAction::AddPe),
            1 => Some(UpdateAction::DelPe),
            _ => None,
        }
    }
}

impl fmt::Display for UpdateAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpdateAction::AddPe => "ADD_PE",
            UpdateAction::DelPe => "DEL_PE",
        })
    }
}

/// An ENRP message (RFC 5353 §2): the server identifiers every message
/// starts with, and the type-specific body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnrpMessage<'a> {
    /// The sending registrar (non-zero).
    pub sender: ServerId,
    /// The receiving registrar; `None` (sent as 0) when group-cast.
    pub receiver: Option<ServerId>,
    /// The message itself.
    pub body: EnrpBody<'a>,
}

/// The type-specific part of an [`EnrpMessage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrpBody<'a> {
    /// ENRP_PRESENCE (0x01).
    Presence {
        /// `R` flag: the receiver must answer with a PRESENCE.
        reply_required: bool,
        /// The sender's PE checksum (PE Checksum parameter).
        checksum: Option<u16>,
        /// The sender's Server Information.
        server_info: Option<ServerInfoParam<'a>>,
    },
    /// ENRP_HANDLE_TABLE_REQUEST (0x02).
    HandleTableRequest {
        /// `W` flag: only the PEs the receiver owns.
        own_children_only: bool,
    },
    /// ENRP_HANDLE_TABLE_RESPONSE (0x03).
    HandleTableResponse {
        /// `M` flag: more responses follow.
        more_to_send: bool,
        /// `R` flag: the request is rejected.
        rejected: bool,
        /// The pools, each with its PEs.
        entries: List<'a, PoolEntry<'a>>,
    },
    /// ENRP_HANDLE_UPDATE (0x04).
    HandleUpdate {
        /// `T` flag: takeover suggested.
        takeover_suggested: bool,
        /// Add/update or remove.
        action: UpdateAction,
        /// The pool.
        pool_handle: &'a [u8],
        /// The complete PE.
        pool_element: PoolElementParam<'a>,
    },
    /// ENRP_LIST_REQUEST (0x05).
    ListRequest,
    /// ENRP_LIST_RESPONSE (0x06).
    ListResponse {
        /// `R` flag: rejected.
        rejected: bool,
        /// The known peers.
        servers: List<'a, ServerInfoParam<'a>>,
    },
    /// ENRP_INIT_TAKEOVER (0x07).
    InitTakeover {
        /// The registrar to take over.
        target: ServerId,
    },
    /// ENRP_INIT_TAKEOVER_ACK (0x08).
    InitTakeoverAck {
        /// The registrar to take over.
        target: ServerId,
    },
    /// ENRP_TAKEOVER_SERVER (0x09).
    TakeoverServer {
        /// The registrar taken over.
        target: ServerId,
    },
    /// ENRP_ERROR (0x0A).
    Error {
        /// The error.
        error: OperationError<'a>,
    },
}

impl<'a> EnrpBody<'a> {
    /// The message type.
    pub const fn message_type(&self) -> EnrpType {
        match self {
            EnrpBody::Presence { .. } => EnrpType::Presence,
            EnrpBody::HandleTableRequest { .. } => EnrpType::HandleTableRequest,
            EnrpBody::HandleTableResponse { .. } => EnrpType::HandleTableResponse,
            EnrpBody::HandleUpdate { .. } => EnrpType::HandleUpdate,
            EnrpBody::ListRequest => EnrpType::ListRequest,
            EnrpBody::ListResponse { .. } => EnrpType::ListResponse,
            EnrpBody::InitTakeover { .. } => EnrpType::InitTakeover,
            EnrpBody::InitTakeoverAck { .. } => EnrpType::InitTakeoverAck,
            EnrpBody::TakeoverServer { .. } => EnrpType::TakeoverServer,
            EnrpBody::Error { .. } => EnrpType::Error,
        }
    }

    /// The flags byte as emitted.
    pub const fn flags(&self) -> u8 {
        match *self {
            EnrpBody::Presence { reply_required, .. } => reply_required as u8,
            EnrpBody::HandleTableRequest { own_children_only } => own_children_only as u8,
            EnrpBody::HandleTableResponse {
                more_to_send,
                rejected,
                ..
            } => ((more_to_send as u8) << 1) | rejected as u8,
            EnrpBody::HandleUpdate {
                takeover_suggested, ..
            } => takeover_suggested as u8,
            EnrpBody::ListResponse { rejected, .. } => rejected as u8,
            _ => 0,
        }
    }
}

impl<'a> EnrpMessage<'a> {
    /// The Sending Server's Identifier of an encoded ENRP message, read
    /// without parsing the rest, so also from one that fails to parse (to
    /// address an ENRP_ERROR to its sender). `None` when the message is
    /// shorter than 8 bytes or the identifier is 0.
    pub fn sender_of(bytes: &[u8]) -> Option<ServerId> {
        ServerId::new(rd32(bytes, HEADER_LEN)).ok()
    }

    /// Parses one ENRP message: `bytes` holds exactly the message, optionally
    /// followed by its padding (at most 3 bytes). Unknown types are handled
    /// as in [`AsapMessage::parse`](super::AsapMessage::parse).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let m = Opened::open(bytes)?;
        if !EnrpType::from(m.ty).is_known() {
            return Err(m.unrecognized());
        }
        m.fixed(8)?;
        let sender = ServerId::new(rd32(m.value, 0))?;
        let receiver = ServerId::new(rd32(m.value, 4)).ok();
        let target = || -> Result<ServerId, Error> {
            m.fixed(12)?;
            Ok(ServerId::new(rd32(m.value, 8))?)
        };
        let body = match EnrpType::from(m.ty) {
            EnrpType::Presence => {
                let f = collect(
                    m.params(8),
                    bit(ParamType::PeChecksum) | bit(ParamType::ServerInformation),
                    Repeated::None,
                )?;
                EnrpBody::Presence {
                    reply_required: m.flags & enrp_flags::REPLY_REQUIRED != 0,
                    checksum: f.checksum,
                    server_info: f.server_info,
                }
            }
            EnrpType::HandleTableRequest => {
                collect(m.params(8), 0, Repeated::None)?;
                EnrpBody::HandleTableRequest {
                    own_children_only: m.flags & enrp_flags::OWN_CHILDREN_ONLY != 0,
                }
            }
            EnrpType::HandleTableResponse => {
                let tlvs = m.params(8);
                let region = tlvs.region();
                let mut count = 0;
                let mut in_entry = false;
                for tlv in tlvs {
                    let tlv = tlv?;
                    match tlv.kind() {
                        ParamType::PoolHandle => {
                            if count > 0 && !in_entry {
                                return Err(missing(ParamType::PoolElement));
                            }
                            super::param::parse_handle(&tlv)?;
                            count += 1;
                            in_entry = false;
                        }
                        ParamType::PoolElement => {
                            if count == 0 {
                                return Err(missing(ParamType::PoolHandle));
                            }
                            PoolElementParam::from_raw(&tlv)?;
                            in_entry = true;
                        }
                        _ => tlv.reject()?,
                    }
                }
                if count > 0 && !in_entry {
                    return Err(missing(ParamType::PoolElement));
                }
                EnrpBody::HandleTableResponse {
                    more_to_send: m.flags & enrp_flags::MORE_TO_SEND != 0,
                    rejected: m.flags & enrp_flags::REJECT != 0,
                    entries: List::from_wire(region, count),
                }
            }
            EnrpType::HandleUpdate => {
                m.fixed(12)?;
                let v = rd16(m.value, 8);
                let action = UpdateAction::from_value(v).ok_or(Error::InvalidUpdateAction(v))?;
                let f = collect(
                    m.params(12),
                    bit(ParamType::PoolHandle) | bit(ParamType::PoolElement),
                    Repeated::None,
                )?;
                EnrpBody::HandleUpdate {
                    takeover_suggested: m.flags & enrp_flags::TAKEOVER_SUGGESTED != 0,
                    action,
                    pool_handle: f.pool_handle.ok_or(missing(ParamType::PoolHandle))?,
                    pool_element: f.pool_element.ok_or(missing(ParamType::PoolElement))?,
                }
            }
            EnrpType::ListRequest => {
                collect(m.params(8), 0, Repeated::None)?;
                EnrpBody::ListRequest
            }
            EnrpType::ListResponse => {
                let f = collect(m.params(8), 0, Repeated::Servers)?;
                EnrpBody::ListResponse {
                    rejected: m.flags & enrp_flags::REJECT != 0,
                    servers: List::from_wire(f.region, f.count),
                }
            }
            EnrpType::InitTakeover | EnrpType::InitTakeoverAck | EnrpType::TakeoverServer => {
                let target = target()?;
                collect(m.params(12), 0, Repeated::None)?;
                match EnrpType::from(m.ty) {
                    EnrpType::InitTakeover => EnrpBody::InitTakeover { target },
                    EnrpType::InitTakeoverAck => EnrpBody::InitTakeoverAck { target },
                    _ => EnrpBody::TakeoverServer { target },
                }
            }
            _ => {
                let f = collect(m.params(8), bit(ParamType::OperationError), Repeated::None)?;
                EnrpBody::Error {
                    error: f.error.ok_or(missing(ParamType::OperationError))?,
                }
            }
        };
        Ok(EnrpMessage {
            sender,
            receiver,
            body,
        })
    }

    /// The message type.
    pub const fn message_type(&self) -> EnrpType {
        self.body.message_type()
    }

    /// The flags byte as emitted.
    pub const fn flags(&self) -> u8 {
        self.body.flags()
    }

    /// The RFC name, e.g. `"ENRP_PRESENCE"`.
    pub const fn name(&self) -> &'static str {
        match self.message_type().name() {
            Some(n) => n,
            None => "ENRP_?",
        }
    }

    /// The exact number of bytes [`emit`](Self::emit) writes (padding
    /// included). For a message `emit` refuses, the value is not meaningful.
    pub fn buffer_len(&self) -> usize {
        measure(|w| self.write(w))
    }

    /// Same as [`buffer_len`](Self::buffer_len).
    pub fn encoded_len(&self) -> usize {
        self.buffer_len()
    }

    /// Writes the message into `buf` and returns its length; see
    /// [`AsapMessage::emit`](super::AsapMessage::emit).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut w = Writer::new(buf);
        self.write(&mut w)?;
        w.finish()
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        let s = begin(w, self.message_type(), self.flags());
        w.u32(self.sender.get());
        w.u32(self.receiver.map_or(0, ServerId::get));
        match &self.body {
            EnrpBody::Presence {
                checksum,
                server_info,
                ..
            } => {
                if let Some(c) = checksum {
                    write_checksum(w, *c);
                }
                if let Some(i) = server_info {
                    i.write(w)?;
                }
            }
            EnrpBody::HandleTableRequest { .. } | EnrpBody::ListRequest => {}
            EnrpBody::HandleTableResponse { entries, .. } => entries.write(w)?,
            EnrpBody::HandleUpdate {
                action,
                pool_handle,
                pool_element,
                ..
            } => {
                w.u16(action.value());
                w.u16(0);
                write_handle(w, pool_handle)?;
                pool_element.write(w)?;
            }
            EnrpBody::ListResponse { servers, .. } => servers.write(w)?,
            EnrpBody::InitTakeover { target }
            | EnrpBody::InitTakeoverAck { target }
            | EnrpBody::TakeoverServer { target } => w.u32(target.get()),
            EnrpBody::Error { error } => error.write(w)?,
        }
        finish(w, s);
        Ok(())
    }
}

impl fmt::Display for EnrpMessage<'_> {
    /// One line: the name, the flags set, the server identifiers, then every
    /// field and parameter.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        let flag = |f: &mut fmt::Formatter<'_>, on: bool, name: &str| -> fmt::Result {
            if on {
                write!(f, " [{name}]")
            } else {
                Ok(())
            }
        };
        match &self.body {
            EnrpBody::Presence { reply_required, .. } => flag(f, *reply_required, "R")?,
            EnrpBody::HandleTableRequest { own_children_only } => flag(f, *own_children_only, "W")?,
            EnrpBody::HandleTableResponse {
                more_to_send,
                rejected,
                ..
            } => {
                flag(f, *more_to_send, "M")?;
                flag(f, *rejected, "R")?
            }
            EnrpBody::HandleUpdate {
                takeover_suggested, ..
            } => flag(f, *takeover_suggested, "T")?,
            EnrpBody::ListResponse { rejected, .. } => flag(f, *rejected, "R")?,
            _ => {}
        }
        write!(f, " sender={} receiver=", self.sender)?;
        match self.receiver {
            Some(r) => write!(f, "{r}")?,
            None => f.write_str("none")?,
        }
        match &self.body {
            EnrpBody::Presence {
                checksum,
                server_info,
                ..
            } => {
                if let Some(c) = checksum {
                    write!(f, " checksum={c:#06x}")?;
                }
                if let Some(i) = server_info {
                    write!(f, " {i}")?;
                }
                Ok(())
            }
            EnrpBody::HandleTableRequest { .. } | EnrpBody::ListRequest => Ok(()),
            EnrpBody::HandleTableResponse { entries, .. } => {
                write!(f, " pools={} {{", entries.len())?;
                entries.fmt_joined(f, " | ")?;
                f.write_str("}")
            }
            EnrpBody::HandleUpdate {
                action,
                pool_handle,
                pool_element,
                ..
            } => write!(f, " {action} {} {pool_element}", Handle(pool_handle)),
            EnrpBody::ListResponse { servers, .. } => {
                write!(f, " servers={} {{", servers.len())?;
                servers.fmt_joined(f, "; ")?;
                f.write_str("}")
            }
            EnrpBody::InitTakeover { target }
            | EnrpBody::InitTakeoverAck { target }
            | EnrpBody::TakeoverServer { target } => write!(f, " target={target}"),
            EnrpBody::Error { error } => write!(f, " {error}"),
        }
    }
}
