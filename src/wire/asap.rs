//! ASAP messages (RFC 5352 §2.2): [`AsapMessage`].

use core::fmt;

use super::error::Error;
use super::field::{rd32, Tlvs, Writer};
use super::list::List;
use super::message::{begin, bit, collect, finish, measure, missing, Opened, Repeated};
use super::operror::OperationError;
use super::param::{
    fmt_handle, fmt_hex, parse_handle, write_handle, write_opaque, write_u32_param, PolicyParam,
    PoolElementParam, TransportParam,
};
use super::types::{AsapType, ParamType};
use crate::id::{PeId, ServerId};

/// ASAP message flags (masks on the flags byte).
pub mod asap_flags {
    /// REGISTRATION_RESPONSE `R`: the registration was rejected.
    pub const REJECT: u8 = 0x01;
    /// HANDLE_RESOLUTION `S`: subscribe to dynamic updates.
    pub const SUBSCRIBE: u8 = 0x01;
    /// HANDLE_RESOLUTION_RESPONSE `A`: dynamic updates accepted.
    pub const ACCEPT_UPDATES: u8 = 0x01;
    /// ENDPOINT_KEEP_ALIVE `H`: the sender wants to be the receiver's home registrar.
    pub const HOME: u8 = 0x01;
}

/// An ASAP message (RFC 5352 §2.2), parsed from borrowed bytes or built to
/// be emitted.
///
/// Pool handles and cookies are the bytes of the parameter values; lists
/// ([`List`]) are lazy views when parsed and the caller's slices when built.
/// Flags other than the named ones are ignored on receipt and sent as 0.
/// Parameter order inside the message is free on receipt; emitting writes
/// the RFC order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsapMessage<'a> {
    /// ASAP_REGISTRATION (0x01): PE → registrar.
    Registration {
        /// The pool to join.
        pool_handle: &'a [u8],
        /// The PE being registered.
        pool_element: PoolElementParam<'a>,
    },
    /// ASAP_DEREGISTRATION (0x02): PE → registrar.
    Deregistration {
        /// The pool.
        pool_handle: &'a [u8],
        /// The PE leaving it.
        pe_id: PeId,
    },
    /// ASAP_REGISTRATION_RESPONSE (0x03): registrar → PE.
    RegistrationResponse {
        /// `R` flag: the registration was rejected.
        rejected: bool,
        /// The pool.
        pool_handle: &'a [u8],
        /// The PE.
        pe_id: PeId,
        /// Why it was rejected (or a warning when accepted).
        error: Option<OperationError<'a>>,
    },
    /// ASAP_DEREGISTRATION_RESPONSE (0x04): registrar → PE.
    DeregistrationResponse {
        /// The pool.
        pool_handle: &'a [u8],
        /// The PE.
        pe_id: PeId,
        /// Present when the deregistration was rejected.
        error: Option<OperationError<'a>>,
    },
    /// ASAP_HANDLE_RESOLUTION (0x05): PU/PE → registrar.
    HandleResolution {
        /// `S` flag: subscribe to dynamic updates.
        subscribe: bool,
        /// The pool to resolve.
        pool_handle: &'a [u8],
        /// rsplib's Handle Resolution Option (0x803F): how many PEs are
        /// wanted (`0xFFFF_FFFF` = as many as possible).
        items: Option<u32>,
    },
    /// ASAP_HANDLE_RESOLUTION_RESPONSE (0x06): registrar → PU/PE.
    HandleResolutionResponse {
        /// `A` flag: dynamic updates accepted.
        accept_updates: bool,
        /// The pool.
        pool_handle: &'a [u8],
        /// The pool's overall policy (absent means Round Robin).
        policy: Option<PolicyParam<'a>>,
        /// The selected PEs (none when negative).
        elements: List<'a, PoolElementParam<'a>>,
        /// Present when the resolution failed.
        error: Option<OperationError<'a>>,
    },
    /// ASAP_ENDPOINT_KEEP_ALIVE (0x07): registrar → PE.
    EndpointKeepAlive {
        /// `H` flag: the sender wants to be the PE's home registrar.
        home: bool,
        /// The sending registrar (fixed field).
        server_id: ServerId,
        /// The pool.
        pool_handle: &'a [u8],
        /// rsplib's PE Identifier parameter (not in RFC 5352).
        pe_id: Option<PeId>,
    },
    /// ASAP_ENDPOINT_KEEP_ALIVE_ACK (0x08): PE → registrar.
    EndpointKeepAliveAck {
        /// The pool.
        pool_handle: &'a [u8],
        /// The answering PE.
        pe_id: PeId,
    },
    /// ASAP_ENDPOINT_UNREACHABLE (0x09): PU/PE → registrar.
    EndpointUnreachable {
        /// The pool.
        pool_handle: &'a [u8],
        /// The unreachable PE.
        pe_id: PeId,
    },
    /// ASAP_SERVER_ANNOUNCE (0x0A): registrar → multicast.
    ServerAnnounce {
        /// The announcing registrar (fixed field).
        server_id: ServerId,
        /// Where it listens (none: SCTP, the source address, port 3863).
        /// RFC 5352 allows SCTP and TCP transports; any is accepted.
        transports: List<'a, TransportParam<'a>>,
    },
    /// ASAP_COOKIE (0x0B): PE → PU.
    Cookie {
        /// The cookie's bytes.
        cookie: &'a [u8],
    },
    /// ASAP_COOKIE_ECHO (0x0C): PU → new PE.
    CookieEcho {
        /// The last cookie received, unchanged.
        cookie: &'a [u8],
    },
    /// ASAP_BUSINESS_CARD (0x0D): PE ↔ PU.
    BusinessCard {
        /// The sender's pool.
        pool_handle: &'a [u8],
        /// The pool's policy (rsplib sends one; RFC 5352 does not).
        policy: Option<PolicyParam<'a>>,
        /// The PEs in preferred failover order.
        elements: List<'a, PoolElementParam<'a>>,
    },
    /// ASAP_ERROR (0x0E).
    Error {
        /// The error.
        error: OperationError<'a>,
    },
}

/// The parameters of a HANDLE_RESOLUTION_RESPONSE or a BUSINESS_CARD: what
/// `collect` finds for a pool handle, a policy, an operation error (when
/// allowed) and any number of pool elements, without its table of every
/// other parameter. The elements are validated here and read from `region`
/// when the list is iterated.
struct ElementsBody<'a> {
    pool_handle: Option<&'a [u8]>,
    policy: Option<PolicyParam<'a>>,
    error: Option<OperationError<'a>>,
    count: usize,
    region: &'a [u8],
}

impl<'a> ElementsBody<'a> {
    #[cfg_attr(all(not(debug_assertions), not(target_os = "none")), inline(always))]
    #[cfg_attr(any(debug_assertions, target_os = "none"), inline)]
    fn collect(tlvs: Tlvs<'a>, error_allowed: bool) -> Result<Self, Error> {
        let mut f = ElementsBody {
            pool_handle: None,
            policy: None,
            error: None,
            count: 0,
            region: tlvs.region(),
        };
        for t in tlvs {
            let t = t?;
            match t.kind() {
                ParamType::PoolElement => {
                    PoolElementParam::check(&t)?;
                    f.count += 1;
                }
                ParamType::PoolHandle => {
                    if f.pool_handle.is_some() {
                        return Err(Error::DuplicateParameter { param_type: t.ty });
                    }
                    f.pool_handle = Some(parse_handle(&t)?);
                }
                ParamType::Policy => {
                    if f.policy.is_some() {
                        return Err(Error::DuplicateParameter { param_type: t.ty });
                    }
                    f.policy = Some(PolicyParam::from_raw(&t)?);
                }
                ParamType::OperationError if error_allowed => {
                    if f.error.is_some() {
                        return Err(Error::DuplicateParameter { param_type: t.ty });
                    }
                    f.error = Some(OperationError::from_raw(&t)?);
                }
                _ => t.reject()?,
            }
        }
        Ok(f)
    }
}

impl<'a> AsapMessage<'a> {
    /// Parses one ASAP message: `bytes` holds exactly the message, optionally
    /// followed by its padding (at most 3 bytes).
    ///
    /// Unknown parameter types are handled by their upper two bits: `00`/`01`
    /// fail with [`Error::UnrecognizedParameter`], `10`/`11` are skipped (find
    /// the ones to report with
    /// [`unrecognized_parameters`](super::unrecognized_parameters)). An
    /// unknown message type fails with [`Error::UnrecognizedMessage`].
    // Inlined into the callers in optimized host builds only: unoptimized
    // frames of every inlined callee add up on deep stacks, and on a board
    // (`target_os = "none"`) the copies would cost flash (about 37 KB of
    // `.text` in the firmware example).
    #[cfg_attr(all(not(debug_assertions), not(target_os = "none")), inline(always))]
    #[cfg_attr(any(debug_assertions, target_os = "none"), inline)]
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Error> {
        let m = Opened::open(bytes)?;
        const HANDLE: u32 = bit(ParamType::PoolHandle);
        const PE_ID: u32 = bit(ParamType::PeIdentifier);
        const ERR: u32 = bit(ParamType::OperationError);
        let handle_and_pe = |f: &super::message::Found<'a>| -> Result<(&'a [u8], PeId), Error> {
            Ok((
                f.pool_handle.ok_or(missing(ParamType::PoolHandle))?,
                f.pe_id.ok_or(missing(ParamType::PeIdentifier))?,
            ))
        };
        Ok(match AsapType::from(m.ty) {
            AsapType::Registration => {
                // What `collect` does for a pool handle and a pool element,
                // without its table of every other parameter.
                let mut pool_handle = None;
                let mut pool_element = None;
                for t in m.params(0) {
                    let t = t?;
                    match t.kind() {
                        ParamType::PoolHandle => {
                            if pool_handle.is_some() {
                                return Err(Error::DuplicateParameter { param_type: t.ty });
                            }
                            pool_handle = Some(parse_handle(&t)?);
                        }
                        ParamType::PoolElement => {
                            if pool_element.is_some() {
                                return Err(Error::DuplicateParameter { param_type: t.ty });
                            }
                            pool_element = Some(PoolElementParam::from_raw(&t)?);
                        }
                        _ => t.reject()?,
                    }
                }
                AsapMessage::Registration {
                    pool_handle: pool_handle.ok_or(missing(ParamType::PoolHandle))?,
                    pool_element: pool_element.ok_or(missing(ParamType::PoolElement))?,
                }
            }
            AsapType::Deregistration
            | AsapType::EndpointKeepAliveAck
            | AsapType::EndpointUnreachable => {
                let f = collect(m.params(0), HANDLE | PE_ID, Repeated::None)?;
                let (pool_handle, pe_id) = handle_and_pe(&f)?;
                match AsapType::from(m.ty) {
                    AsapType::Deregistration => AsapMessage::Deregistration { pool_handle, pe_id },
                    AsapType::EndpointKeepAliveAck => {
                        AsapMessage::EndpointKeepAliveAck { pool_handle, pe_id }
                    }
                    _ => AsapMessage::EndpointUnreachable { pool_handle, pe_id },
                }
            }
            AsapType::RegistrationResponse | AsapType::DeregistrationResponse => {
                let f = collect(m.params(0), HANDLE | PE_ID | ERR, Repeated::None)?;
                let (pool_handle, pe_id) = handle_and_pe(&f)?;
                if AsapType::from(m.ty) == AsapType::RegistrationResponse {
                    AsapMessage::RegistrationResponse {
                        rejected: m.flags & asap_flags::REJECT != 0,
                        pool_handle,
                        pe_id,
                        error: f.error,
                    }
                } else {
                    AsapMessage::DeregistrationResponse {
                        pool_handle,
                        pe_id,
                        error: f.error,
                    }
                }
            }
            AsapType::HandleResolution => {
                let f = collect(
                    m.params(0),
                    HANDLE | bit(ParamType::HandleResolutionOption),
                    Repeated::None,
                )?;
                AsapMessage::HandleResolution {
                    subscribe: m.flags & asap_flags::SUBSCRIBE != 0,
                    pool_handle: f.pool_handle.ok_or(missing(ParamType::PoolHandle))?,
                    items: f.hropt,
                }
            }
            AsapType::HandleResolutionResponse => {
                let f = ElementsBody::collect(m.params(0), true)?;
                AsapMessage::HandleResolutionResponse {
                    accept_updates: m.flags & asap_flags::ACCEPT_UPDATES != 0,
                    pool_handle: f.pool_handle.ok_or(missing(ParamType::PoolHandle))?,
                    policy: f.policy,
                    elements: List::from_wire(f.region, f.count),
                    error: f.error,
                }
            }
            AsapType::EndpointKeepAlive => {
                m.fixed(4)?;
                let server_id = ServerId::new(rd32(m.value, 0))?;
                let f = collect(m.params(4), HANDLE | PE_ID, Repeated::None)?;
                AsapMessage::EndpointKeepAlive {
                    home: m.flags & asap_flags::HOME != 0,
                    server_id,
                    pool_handle: f.pool_handle.ok_or(missing(ParamType::PoolHandle))?,
                    pe_id: f.pe_id,
                }
            }
            AsapType::ServerAnnounce => {
                m.fixed(4)?;
                let server_id = ServerId::new(rd32(m.value, 0))?;
                let f = collect(m.params(4), 0, Repeated::Transports)?;
                AsapMessage::ServerAnnounce {
                    server_id,
                    transports: List::from_wire(f.region, f.count),
                }
            }
            AsapType::Cookie | AsapType::CookieEcho => {
                let f = collect(m.params(0), bit(ParamType::Cookie), Repeated::None)?;
                let cookie = f.cookie.ok_or(missing(ParamType::Cookie))?;
                if AsapType::from(m.ty) == AsapType::Cookie {
                    AsapMessage::Cookie { cookie }
                } else {
                    AsapMessage::CookieEcho { cookie }
                }
            }
            AsapType::BusinessCard => {
                let f = ElementsBody::collect(m.params(0), false)?;
                AsapMessage::BusinessCard {
                    pool_handle: f.pool_handle.ok_or(missing(ParamType::PoolHandle))?,
                    policy: f.policy,
                    elements: List::from_wire(f.region, f.count),
                }
            }
            AsapType::Error => {
                let f = collect(m.params(0), ERR, Repeated::None)?;
                AsapMessage::Error {
                    error: f.error.ok_or(missing(ParamType::OperationError))?,
                }
            }
            _ => return Err(m.unrecognized()),
        })
    }

    /// The message type.
    pub const fn message_type(&self) -> AsapType {
        match self {
            AsapMessage::Registration { .. } => AsapType::Registration,
            AsapMessage::Deregistration { .. } => AsapType::Deregistration,
            AsapMessage::RegistrationResponse { .. } => AsapType::RegistrationResponse,
            AsapMessage::DeregistrationResponse { .. } => AsapType::DeregistrationResponse,
            AsapMessage::HandleResolution { .. } => AsapType::HandleResolution,
            AsapMessage::HandleResolutionResponse { .. } => AsapType::HandleResolutionResponse,
            AsapMessage::EndpointKeepAlive { .. } => AsapType::EndpointKeepAlive,
            AsapMessage::EndpointKeepAliveAck { .. } => AsapType::EndpointKeepAliveAck,
            AsapMessage::EndpointUnreachable { .. } => AsapType::EndpointUnreachable,
            AsapMessage::ServerAnnounce { .. } => AsapType::ServerAnnounce,
            AsapMessage::Cookie { .. } => AsapType::Cookie,
            AsapMessage::CookieEcho { .. } => AsapType::CookieEcho,
            AsapMessage::BusinessCard { .. } => AsapType::BusinessCard,
            AsapMessage::Error { .. } => AsapType::Error,
        }
    }

    /// The flags byte as emitted.
    pub const fn flags(&self) -> u8 {
        let set = match *self {
            AsapMessage::RegistrationResponse { rejected, .. } => rejected,
            AsapMessage::HandleResolution { subscribe, .. } => subscribe,
            AsapMessage::HandleResolutionResponse { accept_updates, .. } => accept_updates,
            AsapMessage::EndpointKeepAlive { home, .. } => home,
            _ => false,
        };
        if set {
            0x01
        } else {
            0
        }
    }

    /// The RFC name, e.g. `"ASAP_REGISTRATION"`.
    pub const fn name(&self) -> &'static str {
        match self.message_type().name() {
            Some(n) => n,
            None => "ASAP_?",
        }
    }

    /// The pool handle the message carries, if any.
    pub const fn pool_handle(&self) -> Option<&'a [u8]> {
        match *self {
            AsapMessage::Registration { pool_handle, .. }
            | AsapMessage::Deregistration { pool_handle, .. }
            | AsapMessage::RegistrationResponse { pool_handle, .. }
            | AsapMessage::DeregistrationResponse { pool_handle, .. }
            | AsapMessage::HandleResolution { pool_handle, .. }
            | AsapMessage::HandleResolutionResponse { pool_handle, .. }
            | AsapMessage::EndpointKeepAlive { pool_handle, .. }
            | AsapMessage::EndpointKeepAliveAck { pool_handle, .. }
            | AsapMessage::EndpointUnreachable { pool_handle, .. }
            | AsapMessage::BusinessCard { pool_handle, .. } => Some(pool_handle),
            _ => None,
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

    /// Writes the message into `buf` and returns its length (a multiple of
    /// 4: Message Length and enclosing parameter lengths include the padding
    /// of their last parameter, as rsplib sends them).
    ///
    /// Fails with [`Error::BufferTooSmall`] (with the exact size needed) when
    /// `buf` is too short, or with the error `parse` would report for an
    /// invalid field (empty or too long pool handle, transport without
    /// address, ...). On failure the contents of `buf` are unspecified.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, Error> {
        let mut w = Writer::new(buf);
        self.write(&mut w)?;
        w.finish()
    }

    fn write(&self, w: &mut Writer<'_>) -> Result<(), Error> {
        let s = begin(w, self.message_type(), self.flags());
        match self {
            AsapMessage::Registration {
                pool_handle,
                pool_element,
            } => {
                write_handle(w, pool_handle)?;
                super::list::sealed::Sealed::write(pool_element, w)?;
            }
            AsapMessage::Deregistration { pool_handle, pe_id }
            | AsapMessage::EndpointKeepAliveAck { pool_handle, pe_id }
            | AsapMessage::EndpointUnreachable { pool_handle, pe_id } => {
                write_handle(w, pool_handle)?;
                write_u32_param(w, ParamType::PeIdentifier, pe_id.get());
            }
            AsapMessage::RegistrationResponse {
                pool_handle,
                pe_id,
                error,
                ..
            }
            | AsapMessage::DeregistrationResponse {
                pool_handle,
                pe_id,
                error,
            } => {
                write_handle(w, pool_handle)?;
                write_u32_param(w, ParamType::PeIdentifier, pe_id.get());
                if let Some(e) = error {
                    e.write(w)?;
                }
            }
            AsapMessage::HandleResolution {
                pool_handle, items, ..
            } => {
                write_handle(w, pool_handle)?;
                if let Some(n) = items {
                    write_u32_param(w, ParamType::HandleResolutionOption, *n);
                }
            }
            AsapMessage::HandleResolutionResponse {
                pool_handle,
                policy,
                elements,
                error,
                ..
            } => {
                write_handle(w, pool_handle)?;
                if let Some(p) = policy {
                    p.write(w);
                }
                elements.write(w)?;
                if let Some(e) = error {
                    e.write(w)?;
                }
            }
            AsapMessage::EndpointKeepAlive {
                server_id,
                pool_handle,
                pe_id,
                ..
            } => {
                w.u32(server_id.get());
                write_handle(w, pool_handle)?;
                if let Some(id) = pe_id {
                    write_u32_param(w, ParamType::PeIdentifier, id.get());
                }
            }
            AsapMessage::ServerAnnounce {
                server_id,
                transports,
            } => {
                w.u32(server_id.get());
                transports.write(w)?;
            }
            AsapMessage::Cookie { cookie } | AsapMessage::CookieEcho { cookie } => {
                write_opaque(w, ParamType::Cookie, cookie);
            }
            AsapMessage::BusinessCard {
                pool_handle,
                policy,
                elements,
            } => {
                write_handle(w, pool_handle)?;
                if let Some(p) = policy {
                    p.write(w);
                }
                elements.write(w)?;
            }
            AsapMessage::Error { error } => error.write(w)?,
        }
        finish(w, s);
        Ok(())
    }
}

pub(crate) struct Handle<'a>(pub &'a [u8]);

impl fmt::Display for Handle<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("pool=")?;
        fmt_handle(f, self.0)
    }
}

pub(crate) fn fmt_elements(
    f: &mut fmt::Formatter<'_>,
    elements: &List<'_, PoolElementParam<'_>>,
) -> fmt::Result {
    write!(f, " elements={} {{", elements.len())?;
    elements.fmt_joined(f, "; ")?;
    f.write_str("}")
}

impl fmt::Display for AsapMessage<'_> {
    /// One line: the name, the flags set, then every field and parameter,
    /// e.g. `ASAP_REGISTRATION pool=EchoPool PE 0x00000001 home=none life=30000 user=SCTP:5000[10.0.0.1] data policy=RR`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())?;
        match self {
            AsapMessage::Registration {
                pool_handle,
                pool_element,
            } => write!(f, " {} {}", Handle(pool_handle), pool_element),
            AsapMessage::Deregistration { pool_handle, pe_id }
            | AsapMessage::EndpointKeepAliveAck { pool_handle, pe_id }
            | AsapMessage::EndpointUnreachable { pool_handle, pe_id } => {
                write!(f, " {} pe={}", Handle(pool_handle), pe_id)
            }
            AsapMessage::RegistrationResponse {
                rejected,
                pool_handle,
                pe_id,
                error,
            } => {
                if *rejected {
                    f.write_str(" [R]")?;
                }
                write!(f, " {} pe={}", Handle(pool_handle), pe_id)?;
                error.map_or(Ok(()), |e| write!(f, " {e}"))
            }
            AsapMessage::DeregistrationResponse {
                pool_handle,
                pe_id,
                error,
            } => {
                write!(f, " {} pe={}", Handle(pool_handle), pe_id)?;
                error.map_or(Ok(()), |e| write!(f, " {e}"))
            }
            AsapMessage::HandleResolution {
                subscribe,
                pool_handle,
                items,
            } => {
                if *subscribe {
                    f.write_str(" [S]")?;
                }
                write!(f, " {}", Handle(pool_handle))?;
                items.map_or(Ok(()), |n| write!(f, " items={n}"))
            }
            AsapMessage::HandleResolutionResponse {
                accept_updates,
                pool_handle,
                policy,
                elements,
                error,
            } => {
                if *accept_updates {
                    f.write_str(" [A]")?;
                }
                write!(f, " {}", Handle(pool_handle))?;
                if let Some(p) = policy {
                    write!(f, " policy={p}")?;
                }
                fmt_elements(f, elements)?;
                error.map_or(Ok(()), |e| write!(f, " {e}"))
            }
            AsapMessage::EndpointKeepAlive {
                home,
                server_id,
                pool_handle,
                pe_id,
            } => {
                if *home {
                    f.write_str(" [H]")?;
                }
                write!(f, " server={} {}", server_id, Handle(pool_handle))?;
                pe_id.map_or(Ok(()), |id| write!(f, " pe={id}"))
            }
            AsapMessage::ServerAnnounce {
                server_id,
                transports,
            } => {
                write!(f, " server={server_id} transports={{")?;
                transports.fmt_joined(f, "; ")?;
                f.write_str("}")
            }
            AsapMessage::Cookie { cookie } | AsapMessage::CookieEcho { cookie } => {
                f.write_str(" cookie=")?;
                fmt_hex(f, cookie)
            }
            AsapMessage::BusinessCard {
                pool_handle,
                policy,
                elements,
            } => {
                write!(f, " {}", Handle(pool_handle))?;
                if let Some(p) = policy {
                    write!(f, " policy={p}")?;
                }
                fmt_elements(f, elements)
            }
            AsapMessage::Error { error } => write!(f, " {error}"),
        }
    }
}
