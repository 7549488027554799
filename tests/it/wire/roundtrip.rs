//! Round-trip properties: any representable message → bytes → the same
//! message, and its bytes → message → the same bytes; every message type,
//! every policy, IPv4/IPv6, multi-homed SCTP, many PEs; arbitrary and
//! mutated input never panics.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::collection::vec;
use proptest::prelude::*;
use rserpool::addr::{TransportProtocol, TransportUse, MAX_TRANSPORT_ADDRESSES};
use rserpool::id::MAX_POOL_HANDLE_SIZE;
use rserpool::policy::{Policy, ALL_POLICY_TYPES};
use rserpool::wire::*;
use rserpool::{CauseCode, PeId, ServerId};

// ---- Owned models the reprs borrow from -----------------------------------

#[derive(Debug, Clone)]
struct OTransport {
    protocol: TransportProtocol,
    port: u16,
    transport_use: TransportUse,
    service_code: u32,
    addresses: Vec<IpAddr>,
}

impl OTransport {
    fn repr(&self) -> TransportParam<'_> {
        TransportParam {
            protocol: self.protocol,
            port: self.port,
            transport_use: self.transport_use,
            service_code: self.service_code,
            addresses: List::from_slice(&self.addresses),
        }
    }
}

#[derive(Debug, Clone)]
enum OPolicy {
    Known(Policy),
    Unknown(u32, Vec<u8>),
}

impl OPolicy {
    fn repr(&self) -> PolicyParam<'_> {
        match self {
            OPolicy::Known(p) => PolicyParam::Known(*p),
            OPolicy::Unknown(t, d) => PolicyParam::Unknown {
                policy_type: *t,
                data: d,
            },
        }
    }
}

#[derive(Debug, Clone)]
enum OUser {
    Transport(OTransport),
    Opaque(Vec<u8>),
}

#[derive(Debug, Clone)]
struct OPe {
    pe_id: PeId,
    home: Option<ServerId>,
    life: i32,
    user: OUser,
    policy: OPolicy,
    asap: Option<OTransport>,
}

impl OPe {
    fn repr(&self) -> PoolElementParam<'_> {
        PoolElementParam {
            pe_id: self.pe_id,
            home_server: self.home,
            registration_life: self.life,
            user_transport: match &self.user {
                OUser::Transport(t) => UserTransport::Transport(t.repr()),
                OUser::Opaque(b) => UserTransport::Opaque(b),
            },
            policy: self.policy.repr(),
            asap_transport: self.asap.as_ref().map(OTransport::repr),
        }
    }
}

#[derive(Debug, Clone)]
enum OCause {
    Bytes(u16, Vec<u8>),
    Policy(OPolicy),
    Transport(OTransport),
}

impl OCause {
    fn repr(&self) -> ErrorCause<'_> {
        match self {
            OCause::Bytes(code, b) => ErrorCause::with_bytes(CauseCode::from_code(*code), b),
            OCause::Policy(p) => ErrorCause::inconsistent_policy(p.repr()),
            OCause::Transport(t) => ErrorCause::inconsistent_transport(t.repr()),
        }
    }
}

#[derive(Debug, Clone)]
struct OServer {
    id: ServerId,
    transport: OTransport,
}

#[derive(Debug, Clone)]
enum OMsg {
    Registration(Vec<u8>, OPe),
    Deregistration(Vec<u8>, PeId),
    RegistrationResponse(bool, Vec<u8>, PeId, Option<Vec<OCause>>),
    DeregistrationResponse(Vec<u8>, PeId, Option<Vec<OCause>>),
    HandleResolution(bool, Vec<u8>, Option<u32>),
    HandleResolutionResponse(
        bool,
        Vec<u8>,
        Option<OPolicy>,
        Vec<OPe>,
        Option<Vec<OCause>>,
    ),
    KeepAlive(bool, ServerId, Vec<u8>, Option<PeId>),
    KeepAliveAck(Vec<u8>, PeId),
    Unreachable(Vec<u8>, PeId),
    ServerAnnounce(ServerId, Vec<OTransport>),
    Cookie(Vec<u8>),
    CookieEcho(Vec<u8>),
    BusinessCard(Vec<u8>, Option<OPolicy>, Vec<OPe>),
    AsapError(Vec<OCause>),
    Enrp(ServerId, Option<ServerId>, OBody),
}

#[derive(Debug, Clone)]
enum OBody {
    Presence(bool, Option<u16>, Option<OServer>),
    HandleTableRequest(bool),
    HandleTableResponse(bool, bool, Vec<(Vec<u8>, Vec<OPe>)>),
    HandleUpdate(bool, UpdateAction, Vec<u8>, OPe),
    ListRequest,
    ListResponse(bool, Vec<OServer>),
    InitTakeover(ServerId),
    InitTakeoverAck(ServerId),
    TakeoverServer(ServerId),
    Error(Vec<OCause>),
}

// ---- Strategies -----------------------------------------------------------

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        any::<u128>().prop_map(|v| IpAddr::V6(Ipv6Addr::from(v))),
    ]
}

fn transport() -> impl Strategy<Value = OTransport> {
    (0usize..5, any::<u16>(), any::<bool>(), any::<u32>()).prop_flat_map(
        |(p, port, control, code)| {
            let protocol = [
                TransportProtocol::Sctp,
                TransportProtocol::Tcp,
                TransportProtocol::Udp,
                TransportProtocol::UdpLite,
                TransportProtocol::Dccp,
            ][p];
            let max = if protocol == TransportProtocol::Sctp {
                MAX_TRANSPORT_ADDRESSES
            } else {
                1
            };
            let transport_use = if control
                && matches!(protocol, TransportProtocol::Sctp | TransportProtocol::Tcp)
            {
                TransportUse::DataAndControl
            } else {
                TransportUse::DataOnly
            };
            let service_code = if protocol == TransportProtocol::Dccp {
                code
            } else {
                0
            };
            vec(ip(), 1..=max).prop_map(move |addresses| OTransport {
                protocol,
                port,
                transport_use,
                service_code,
                addresses,
            })
        },
    )
}

fn sctp_transport() -> impl Strategy<Value = OTransport> {
    (any::<u16>(), any::<bool>(), vec(ip(), 1..=4)).prop_map(|(port, c, addresses)| OTransport {
        protocol: TransportProtocol::Sctp,
        port,
        transport_use: if c {
            TransportUse::DataAndControl
        } else {
            TransportUse::DataOnly
        },
        service_code: 0,
        addresses,
    })
}

fn policy() -> impl Strategy<Value = OPolicy> {
    prop_oneof![
        4 => (0..ALL_POLICY_TYPES.len(), any::<[u32; 4]>()).prop_map(|(i, params)| {
            let t = ALL_POLICY_TYPES[i];
            let n = Policy::parameter_count(t).unwrap();
            OPolicy::Known(Policy::from_parameters(t, &params[..n]).unwrap())
        }),
        1 => (any::<u32>(), vec(any::<u8>(), 0..13))
            .prop_filter("unknown type", |(t, _)| Policy::parameter_count(*t).is_none())
            .prop_map(|(t, d)| OPolicy::Unknown(t, d)),
    ]
}

fn pe_id() -> impl Strategy<Value = PeId> {
    (1..=u32::MAX).prop_map(|v| PeId::new(v).unwrap())
}

fn server_id() -> impl Strategy<Value = ServerId> {
    (1..=u32::MAX).prop_map(|v| ServerId::new(v).unwrap())
}

fn handle() -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 1..=MAX_POOL_HANDLE_SIZE)
}

fn pool_element() -> impl Strategy<Value = OPe> {
    (
        pe_id(),
        proptest::option::of(server_id()),
        -1i32..=i32::MAX,
        prop_oneof![
            4 => transport().prop_map(OUser::Transport),
            1 => vec(any::<u8>(), 0..20).prop_map(OUser::Opaque),
        ],
        policy(),
        proptest::option::of(sctp_transport()),
    )
        .prop_map(|(pe_id, home, life, user, policy, asap)| OPe {
            pe_id,
            home,
            life,
            user,
            policy,
            asap,
        })
}

fn cause() -> impl Strategy<Value = OCause> {
    prop_oneof![
        (any::<u16>(), vec(any::<u8>(), 0..24))
            .prop_filter("typed causes below", |(c, _)| *c != 5 && *c != 7)
            .prop_map(|(c, b)| OCause::Bytes(c, b)),
        policy().prop_map(OCause::Policy),
        transport().prop_map(OCause::Transport),
    ]
}

fn causes() -> impl Strategy<Value = Vec<OCause>> {
    vec(cause(), 1..4)
}

fn server() -> impl Strategy<Value = OServer> {
    (server_id(), sctp_transport()).prop_map(|(id, transport)| OServer { id, transport })
}

fn body() -> impl Strategy<Value = OBody> {
    prop_oneof![
        (
            any::<bool>(),
            proptest::option::of(any::<u16>()),
            proptest::option::of(server())
        )
            .prop_map(|(r, c, s)| OBody::Presence(r, c, s)),
        any::<bool>().prop_map(OBody::HandleTableRequest),
        (
            any::<bool>(),
            any::<bool>(),
            vec((handle(), vec(pool_element(), 1..4)), 0..4)
        )
            .prop_map(|(m, r, e)| OBody::HandleTableResponse(m, r, e)),
        (
            any::<bool>(),
            prop_oneof![Just(UpdateAction::AddPe), Just(UpdateAction::DelPe)],
            handle(),
            pool_element()
        )
            .prop_map(|(t, a, h, p)| OBody::HandleUpdate(t, a, h, p)),
        Just(OBody::ListRequest),
        (any::<bool>(), vec(server(), 0..4)).prop_map(|(r, s)| OBody::ListResponse(r, s)),
        server_id().prop_map(OBody::InitTakeover),
        server_id().prop_map(OBody::InitTakeoverAck),
        server_id().prop_map(OBody::TakeoverServer),
        causes().prop_map(OBody::Error),
    ]
}

fn message() -> impl Strategy<Value = OMsg> {
    prop_oneof![
        (handle(), pool_element()).prop_map(|(h, p)| OMsg::Registration(h, p)),
        (handle(), pe_id()).prop_map(|(h, p)| OMsg::Deregistration(h, p)),
        (
            any::<bool>(),
            handle(),
            pe_id(),
            proptest::option::of(causes())
        )
            .prop_map(|(r, h, p, e)| OMsg::RegistrationResponse(r, h, p, e)),
        (handle(), pe_id(), proptest::option::of(causes()))
            .prop_map(|(h, p, e)| OMsg::DeregistrationResponse(h, p, e)),
        (any::<bool>(), handle(), proptest::option::of(any::<u32>()))
            .prop_map(|(s, h, i)| OMsg::HandleResolution(s, h, i)),
        (
            any::<bool>(),
            handle(),
            proptest::option::of(policy()),
            vec(pool_element(), 0..8),
            proptest::option::of(causes())
        )
            .prop_map(|(a, h, p, e, c)| OMsg::HandleResolutionResponse(a, h, p, e, c)),
        (
            any::<bool>(),
            server_id(),
            handle(),
            proptest::option::of(pe_id())
        )
            .prop_map(|(hb, s, h, p)| OMsg::KeepAlive(hb, s, h, p)),
        (handle(), pe_id()).prop_map(|(h, p)| OMsg::KeepAliveAck(h, p)),
        (handle(), pe_id()).prop_map(|(h, p)| OMsg::Unreachable(h, p)),
        (server_id(), vec(transport(), 0..4)).prop_map(|(s, t)| OMsg::ServerAnnounce(s, t)),
        vec(any::<u8>(), 0..40).prop_map(OMsg::Cookie),
        vec(any::<u8>(), 0..40).prop_map(OMsg::CookieEcho),
        (
            handle(),
            proptest::option::of(policy()),
            vec(pool_element(), 0..4)
        )
            .prop_map(|(h, p, e)| OMsg::BusinessCard(h, p, e)),
        causes().prop_map(OMsg::AsapError),
        (server_id(), proptest::option::of(server_id()), body())
            .prop_map(|(s, r, b)| OMsg::Enrp(s, r, b)),
    ]
}

// ---- The property ---------------------------------------------------------

/// Emits `m`, parses it back, compares, and checks that re-emitting the
/// parsed message gives the same bytes.
fn check(m: Message<'_>) -> Result<(), TestCaseError> {
    let len = m.buffer_len();
    let mut buf = vec![0u8; len];
    prop_assert_eq!(m.emit(&mut buf), Ok(len));
    prop_assert_eq!(len % 4, 0);
    if len > 0 {
        let mut short = vec![0u8; len - 1];
        prop_assert_eq!(
            m.emit(&mut short),
            Err(Error::BufferTooSmall { needed: len })
        );
    }
    let back = Message::parse(m.protocol(), &buf);
    prop_assert_eq!(back, Ok(m), "bytes {:02x?}", buf);
    let back = back.unwrap();
    prop_assert_eq!(back.buffer_len(), len);
    let mut again = vec![0u8; len];
    prop_assert_eq!(back.emit(&mut again), Ok(len));
    prop_assert_eq!(&again, &buf);
    prop_assert!(!back.to_string().is_empty());
    prop_assert_eq!(unrecognized_parameters(m.protocol(), &buf).count(), 0);
    // The same message in RFC 5354's nesting convention (container and
    // message lengths without their last parameter's padding) parses to the
    // same repr, with or without the message's trailing padding.
    let mut rfc = buf.clone();
    let rfc_len = to_rfc_form(&mut rfc, m.protocol());
    prop_assert_eq!(
        Message::parse(m.protocol(), &rfc),
        Ok(m),
        "rfc {:02x?}",
        rfc
    );
    prop_assert_eq!(Message::parse(m.protocol(), &rfc[..rfc_len]), Ok(m));
    // Every strict prefix is refused as truncated.
    for n in 0..len {
        prop_assert_eq!(
            Message::parse(m.protocol(), &buf[..n]),
            Err(Error::Truncated),
            "prefix {}",
            n
        );
    }
    Ok(())
}

fn rd16(b: &[u8], i: usize) -> usize {
    usize::from(u16::from_be_bytes([b[i], b[i + 1]]))
}

fn wr16(b: &mut [u8], i: usize, v: usize) {
    b[i..i + 2].copy_from_slice(&u16::try_from(v).unwrap().to_be_bytes());
}

/// Rewrites the TLVs in `b[start..end]` to RFC nesting; returns the end of
/// the last TLV without its padding (or `start` when there is none).
fn rfc_region(b: &mut [u8], start: usize, end: usize) -> usize {
    let mut p = start;
    let mut last_end = start;
    while p < end {
        let len = rd16(b, p + 2);
        let fixed = match rd16(b, p) {
            0x3 => Some(8),
            0x4..=0x7 | 0xB => Some(4),
            0xA => Some(12),
            0xC => Some(0),
            _ => None,
        };
        let new_len = match fixed {
            // Operation Error: the causes are leaves.
            Some(0) => rfc_leaves(b, p + 4, p + len) - p,
            Some(f) => rfc_region(b, p + 4 + f, p + len).max(p + 4 + f) - p,
            None => len,
        };
        wr16(b, p + 2, new_len);
        last_end = p + new_len;
        p += (len + 3) & !3;
    }
    last_end
}

/// The end of the last TLV in `b[start..end]` without its padding.
fn rfc_leaves(b: &[u8], start: usize, end: usize) -> usize {
    let mut p = start;
    let mut last_end = start;
    while p < end {
        let len = rd16(b, p + 2);
        last_end = p + len;
        p += (len + 3) & !3;
    }
    last_end
}

/// Converts an emitted (rsplib-form) message to RFC 5354's form in place;
/// returns the new Message Length.
fn to_rfc_form(b: &mut [u8], protocol: Protocol) -> usize {
    let fixed = match (protocol, b[0]) {
        (Protocol::Asap, 0x07 | 0x0a) => 4,
        (Protocol::Asap, _) => 0,
        (Protocol::Enrp, 0x04 | 0x07 | 0x08 | 0x09) => 12,
        (Protocol::Enrp, _) => 8,
    };
    let len = rd16(b, 2);
    let new_len = rfc_region(b, 4 + fixed, len).max(4 + fixed);
    wr16(b, 2, new_len);
    new_len
}

fn cs(c: &Option<Vec<OCause>>) -> Option<Vec<ErrorCause<'_>>> {
    c.as_ref().map(|v| v.iter().map(OCause::repr).collect())
}

fn run(o: &OMsg) -> Result<(), TestCaseError> {
    match o {
        OMsg::Registration(h, p) => check(Message::Asap(AsapMessage::Registration {
            pool_handle: h,
            pool_element: p.repr(),
        })),
        OMsg::Deregistration(h, p) => check(Message::Asap(AsapMessage::Deregistration {
            pool_handle: h,
            pe_id: *p,
        })),
        OMsg::RegistrationResponse(r, h, p, e) => {
            let c = cs(e);
            check(Message::Asap(AsapMessage::RegistrationResponse {
                rejected: *r,
                pool_handle: h,
                pe_id: *p,
                error: c.as_deref().map(OperationError::new),
            }))
        }
        OMsg::DeregistrationResponse(h, p, e) => {
            let c = cs(e);
            check(Message::Asap(AsapMessage::DeregistrationResponse {
                pool_handle: h,
                pe_id: *p,
                error: c.as_deref().map(OperationError::new),
            }))
        }
        OMsg::HandleResolution(s, h, i) => check(Message::Asap(AsapMessage::HandleResolution {
            subscribe: *s,
            pool_handle: h,
            items: *i,
        })),
        OMsg::HandleResolutionResponse(a, h, p, e, c) => {
            let pes: Vec<_> = e.iter().map(OPe::repr).collect();
            let c = cs(c);
            check(Message::Asap(AsapMessage::HandleResolutionResponse {
                accept_updates: *a,
                pool_handle: h,
                policy: p.as_ref().map(OPolicy::repr),
                elements: List::from_slice(&pes),
                error: c.as_deref().map(OperationError::new),
            }))
        }
        OMsg::KeepAlive(hb, s, h, p) => check(Message::Asap(AsapMessage::EndpointKeepAlive {
            home: *hb,
            server_id: *s,
            pool_handle: h,
            pe_id: *p,
        })),
        OMsg::KeepAliveAck(h, p) => check(Message::Asap(AsapMessage::EndpointKeepAliveAck {
            pool_handle: h,
            pe_id: *p,
        })),
        OMsg::Unreachable(h, p) => check(Message::Asap(AsapMessage::EndpointUnreachable {
            pool_handle: h,
            pe_id: *p,
        })),
        OMsg::ServerAnnounce(s, t) => {
            let ts: Vec<_> = t.iter().map(OTransport::repr).collect();
            check(Message::Asap(AsapMessage::ServerAnnounce {
                server_id: *s,
                transports: List::from_slice(&ts),
            }))
        }
        OMsg::Cookie(c) => check(Message::Asap(AsapMessage::Cookie { cookie: c })),
        OMsg::CookieEcho(c) => check(Message::Asap(AsapMessage::CookieEcho { cookie: c })),
        OMsg::BusinessCard(h, p, e) => {
            let pes: Vec<_> = e.iter().map(OPe::repr).collect();
            check(Message::Asap(AsapMessage::BusinessCard {
                pool_handle: h,
                policy: p.as_ref().map(OPolicy::repr),
                elements: List::from_slice(&pes),
            }))
        }
        OMsg::AsapError(c) => {
            let c: Vec<_> = c.iter().map(OCause::repr).collect();
            check(Message::Asap(AsapMessage::Error {
                error: OperationError::new(&c),
            }))
        }
        OMsg::Enrp(sender, receiver, b) => {
            let enrp = |body: EnrpBody<'_>| {
                check(Message::Enrp(EnrpMessage {
                    sender: *sender,
                    receiver: *receiver,
                    body,
                }))
            };
            match b {
                OBody::Presence(r, c, s) => {
                    let info = s.as_ref().map(|s| ServerInfoParam {
                        server_id: s.id,
                        transport: s.transport.repr(),
                    });
                    enrp(EnrpBody::Presence {
                        reply_required: *r,
                        checksum: *c,
                        server_info: info,
                    })
                }
                OBody::HandleTableRequest(w) => enrp(EnrpBody::HandleTableRequest {
                    own_children_only: *w,
                }),
                OBody::HandleTableResponse(m, r, entries) => {
                    let pes: Vec<Vec<_>> = entries
                        .iter()
                        .map(|(_, e)| e.iter().map(OPe::repr).collect())
                        .collect();
                    let es: Vec<PoolEntry> = entries
                        .iter()
                        .zip(&pes)
                        .map(|((h, _), p)| PoolEntry::new(h, p))
                        .collect();
                    enrp(EnrpBody::HandleTableResponse {
                        more_to_send: *m,
                        rejected: *r,
                        entries: List::from_slice(&es),
                    })
                }
                OBody::HandleUpdate(t, a, h, p) => enrp(EnrpBody::HandleUpdate {
                    takeover_suggested: *t,
                    action: *a,
                    pool_handle: h,
                    pool_element: p.repr(),
                }),
                OBody::ListRequest => enrp(EnrpBody::ListRequest),
                OBody::ListResponse(r, s) => {
                    let ss: Vec<_> = s
                        .iter()
                        .map(|s| ServerInfoParam {
                            server_id: s.id,
                            transport: s.transport.repr(),
                        })
                        .collect();
                    enrp(EnrpBody::ListResponse {
                        rejected: *r,
                        servers: List::from_slice(&ss),
                    })
                }
                OBody::InitTakeover(t) => enrp(EnrpBody::InitTakeover { target: *t }),
                OBody::InitTakeoverAck(t) => enrp(EnrpBody::InitTakeoverAck { target: *t }),
                OBody::TakeoverServer(t) => enrp(EnrpBody::TakeoverServer { target: *t }),
                OBody::Error(c) => {
                    let c: Vec<_> = c.iter().map(OCause::repr).collect();
                    enrp(EnrpBody::Error {
                        error: OperationError::new(&c),
                    })
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn message_round_trips(m in message()) {
        run(&m)?;
    }

    /// Arbitrary bytes never panic; whatever parses re-emits and re-parses
    /// to the same message.
    #[test]
    fn arbitrary_bytes_never_panic(b in vec(any::<u8>(), 0..96), enrp in any::<bool>()) {
        let protocol = if enrp { Protocol::Enrp } else { Protocol::Asap };
        if let Ok(m) = Message::parse(protocol, &b) {
            let mut out = vec![0u8; m.buffer_len()];
            m.emit(&mut out).unwrap();
            prop_assert_eq!(Message::parse(protocol, &out), Ok(m));
        }
        let _ = unrecognized_parameters(protocol, &b).count();
        let _ = offending_parameter(protocol, &b);
    }

    /// Valid messages with bytes changed never panic either.
    #[test]
    fn mutated_messages_never_panic(
        m in message(),
        edits in vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
    ) {
        let mut encode = |msg: Message<'_>| {
            let mut out = vec![0u8; msg.buffer_len()];
            msg.emit(&mut out).unwrap();
            (msg.protocol(), out)
        };
        let (protocol, mut bytes) = with_message(&m, &mut encode);
        for (i, v) in edits {
            if !bytes.is_empty() {
                let i = i.index(bytes.len());
                bytes[i] = v;
            }
        }
        if let Ok(parsed) = Message::parse(protocol, &bytes) {
            let mut out = vec![0u8; parsed.buffer_len()];
            if parsed.emit(&mut out).is_ok() {
                prop_assert_eq!(Message::parse(protocol, &out), Ok(parsed));
            }
        }
        let _ = unrecognized_parameters(protocol, &bytes).count();
        if Message::parse(protocol, &bytes).is_err() {
            if let Some(p) = offending_parameter(protocol, &bytes) {
                prop_assert!(!p.is_empty() && p.len() <= bytes.len());
            }
        }
    }
}

/// Encodes a model message through `f` (the same construction as `run`,
/// for the few message kinds the mutation test needs).
fn with_message<R>(o: &OMsg, f: &mut dyn FnMut(Message<'_>) -> R) -> R {
    match o {
        OMsg::Registration(h, p) => f(Message::Asap(AsapMessage::Registration {
            pool_handle: h,
            pool_element: p.repr(),
        })),
        OMsg::HandleResolutionResponse(a, h, p, e, _) => {
            let pes: Vec<_> = e.iter().map(OPe::repr).collect();
            f(Message::Asap(AsapMessage::HandleResolutionResponse {
                accept_updates: *a,
                pool_handle: h,
                policy: p.as_ref().map(OPolicy::repr),
                elements: List::from_slice(&pes),
                error: None,
            }))
        }
        OMsg::Enrp(s, r, OBody::HandleTableResponse(m, rej, entries)) => {
            let pes: Vec<Vec<_>> = entries
                .iter()
                .map(|(_, e)| e.iter().map(OPe::repr).collect())
                .collect();
            let es: Vec<PoolEntry> = entries
                .iter()
                .zip(&pes)
                .map(|((h, _), p)| PoolEntry::new(h, p))
                .collect();
            f(Message::Enrp(EnrpMessage {
                sender: *s,
                receiver: *r,
                body: EnrpBody::HandleTableResponse {
                    more_to_send: *m,
                    rejected: *rej,
                    entries: List::from_slice(&es),
                },
            }))
        }
        OMsg::AsapError(c) => {
            let c: Vec<_> = c.iter().map(OCause::repr).collect();
            f(Message::Asap(AsapMessage::Error {
                error: OperationError::new(&c),
            }))
        }
        OMsg::Enrp(s, r, OBody::Presence(rr, c, info)) => {
            let info = info.as_ref().map(|i| ServerInfoParam {
                server_id: i.id,
                transport: i.transport.repr(),
            });
            f(Message::Enrp(EnrpMessage {
                sender: *s,
                receiver: *r,
                body: EnrpBody::Presence {
                    reply_required: *rr,
                    checksum: *c,
                    server_info: info,
                },
            }))
        }
        _ => f(Message::Asap(AsapMessage::Cookie { cookie: b"cookie" })),
    }
}

#[test]
fn many_pes_in_a_handle_table_response() {
    let addrs: Vec<IpAddr> = (0..MAX_TRANSPORT_ADDRESSES as u32)
        .map(|i| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
        .collect();
    let pes: Vec<PoolElementParam> = (1..=1000u32)
        .map(|i| PoolElementParam {
            pe_id: PeId::new(i).unwrap(),
            home_server: ServerId::new(7).ok(),
            registration_life: -1,
            user_transport: UserTransport::Transport(TransportParam::new(
                TransportProtocol::Sctp,
                5000,
                TransportUse::DataAndControl,
                &addrs[..(i as usize % MAX_TRANSPORT_ADDRESSES) + 1],
            )),
            policy: PolicyParam::Known(Policy::LeastUsed { load: i }),
            asap_transport: None,
        })
        .collect();
    // 1000 PEs do not fit one message (65535 bytes): split as a registrar would.
    for chunk in pes.chunks(100) {
        let entries = [PoolEntry::new(b"big pool", chunk)];
        let m = EnrpMessage {
            sender: ServerId::new(1).unwrap(),
            receiver: ServerId::new(2).ok(),
            body: EnrpBody::HandleTableResponse {
                more_to_send: true,
                rejected: false,
                entries: List::from_slice(&entries),
            },
        };
        let mut buf = vec![0u8; m.buffer_len()];
        m.emit(&mut buf).unwrap();
        let back = EnrpMessage::parse(&buf).unwrap();
        assert_eq!(back, m);
        let EnrpBody::HandleTableResponse { entries: e, .. } = back.body else {
            panic!()
        };
        let got: Vec<u32> = e
            .first()
            .unwrap()
            .elements
            .iter()
            .map(|p| p.pe_id.get())
            .collect();
        let want: Vec<u32> = chunk.iter().map(|p| p.pe_id.get()).collect();
        assert_eq!(got, want);
    }
    // All at once is too long for a length field.
    let entries = [PoolEntry::new(b"big pool", &pes)];
    let m = EnrpMessage {
        sender: ServerId::new(1).unwrap(),
        receiver: None,
        body: EnrpBody::HandleTableResponse {
            more_to_send: false,
            rejected: false,
            entries: List::from_slice(&entries),
        },
    };
    let mut buf = vec![0u8; m.buffer_len()];
    assert_eq!(m.emit(&mut buf), Err(Error::TooLong));
}

#[test]
fn emit_refuses_invalid_reprs() {
    let mut buf = [0u8; 256];
    let m = AsapMessage::Deregistration {
        pool_handle: b"",
        pe_id: PeId::new(1).unwrap(),
    };
    assert!(matches!(m.emit(&mut buf), Err(Error::PoolHandle(_))));
    let m = AsapMessage::Deregistration {
        pool_handle: &[b'x'; MAX_POOL_HANDLE_SIZE + 1],
        pe_id: PeId::new(1).unwrap(),
    };
    assert!(matches!(m.emit(&mut buf), Err(Error::PoolHandle(_))));
    let addrs = [IpAddr::V4(Ipv4Addr::LOCALHOST); 2];
    for (protocol, transport_use, n, want) in [
        (
            TransportProtocol::Sctp,
            TransportUse::DataOnly,
            0,
            "NoAddress",
        ),
        (
            TransportProtocol::Udp,
            TransportUse::DataOnly,
            2,
            "TooManyAddressesForProtocol",
        ),
        (
            TransportProtocol::Udp,
            TransportUse::DataAndControl,
            1,
            "ControlNotAllowed",
        ),
    ] {
        let t = [TransportParam::new(protocol, 1, transport_use, &addrs[..n])];
        let m = AsapMessage::ServerAnnounce {
            server_id: ServerId::new(1).unwrap(),
            transports: List::from_slice(&t),
        };
        let e = m.emit(&mut buf).unwrap_err();
        assert!(format!("{e:?}").contains(want), "{e:?}");
    }
    let m = AsapMessage::Error {
        error: OperationError::new(&[]),
    };
    assert_eq!(
        m.emit(&mut buf),
        Err(Error::EmptyList {
            param_type: param_type::OPERATION_ERROR
        })
    );
}

#[test]
fn rfc_form_conversion_shortens_lengths() {
    // ERROR with an Operation Error whose single cause has 2 bytes of padding.
    let causes = [ErrorCause::unrecognized_parameter(&[
        0x7f, 0xff, 0, 6, 0xab, 0xcd,
    ])];
    let m = AsapMessage::Error {
        error: OperationError::new(&causes),
    };
    let mut buf = [0u8; 20];
    assert_eq!(m.emit(&mut buf), Ok(20));
    assert_eq!(to_rfc_form(&mut buf, Protocol::Asap), 18);
    assert_eq!(&buf[..8], &[0x0e, 0, 0, 18, 0, 0x0c, 0, 14]);
    assert_eq!(AsapMessage::parse(&buf), Ok(m));
}
