//! Sample ASAP and ENRP messages of every type, built with the codec's
//! reprs: the seeds of the fuzz corpus and the input of the Wireshark
//! cross-check. Shared by the fuzz crate, `tests/it/wire/fuzz_corpus.rs` and
//! `tests/it/wire/wireshark.rs` (included by path, so it depends on `rserpool`
//! only).

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::cause::CauseCode;
use rserpool::policy::{Policy, ALL_POLICY_TYPES};
use rserpool::wire::{
    AsapMessage, EnrpBody, EnrpMessage, ErrorCause, List, Message, OperationError, PolicyParam,
    PoolElementParam, PoolEntry, ServerInfoParam, TransportParam, UpdateAction, UserTransport,
};
use rserpool::{PeId, ServerId};

/// A non-zero PE identifier.
pub fn pe(id: u32) -> PeId {
    PeId::new(id).expect("non-zero PE id")
}

/// A non-zero server identifier.
pub fn server(id: u32) -> ServerId {
    ServerId::new(id).expect("non-zero server id")
}

/// Policy number `i` of [`ALL_POLICY_TYPES`] with distinct parameter values.
pub fn policy(i: usize) -> Policy {
    let ty = ALL_POLICY_TYPES[i % ALL_POLICY_TYPES.len()];
    let n = Policy::parameter_count(ty).expect("known policy");
    let params = [
        0x1000_0000 + i as u32,
        0x2000_0000 + 3 * i as u32,
        0x0300_0000 + 5 * i as u32,
        7 + i as u32,
    ];
    Policy::from_parameters(ty, &params[..n]).expect("valid policy")
}

/// Addresses used by the samples.
pub const V4_A: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
/// Addresses used by the samples.
pub const V4_B: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
/// Addresses used by the samples.
pub const V6_A: IpAddr = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x10));

static MULTI: [IpAddr; 3] = [V4_A, V6_A, V4_B];
static ONE_V4: [IpAddr; 1] = [V4_A];
static ONE_V6: [IpAddr; 1] = [V6_A];

/// An SCTP transport on `port` over three addresses.
pub fn sctp(port: u16) -> TransportParam<'static> {
    TransportParam::new(
        TransportProtocol::Sctp,
        port,
        TransportUse::DataAndControl,
        &MULTI,
    )
}

/// The user transport of sample PE number `i`: every transport kind in turn.
pub fn user_transport(i: usize) -> UserTransport<'static> {
    let port = 20_000 + i as u16;
    let t = match i % 5 {
        0 => sctp(port),
        1 => TransportParam::new(
            TransportProtocol::Tcp,
            port,
            TransportUse::DataOnly,
            &ONE_V4,
        ),
        2 => TransportParam::new(
            TransportProtocol::Udp,
            port,
            TransportUse::DataOnly,
            &ONE_V6,
        ),
        3 => TransportParam::new(
            TransportProtocol::UdpLite,
            port,
            TransportUse::DataOnly,
            &ONE_V4,
        ),
        _ => TransportParam {
            service_code: 0x0000_1234 + i as u32,
            ..TransportParam::new(
                TransportProtocol::Dccp,
                port,
                TransportUse::DataOnly,
                &ONE_V6,
            )
        },
    };
    UserTransport::Transport(t)
}

/// Sample pool element number `i` (policy `i`, user transport `i`).
pub fn element(i: usize) -> PoolElementParam<'static> {
    PoolElementParam {
        pe_id: pe(0x1000_0001 + 0x0101 * i as u32),
        home_server: if i % 2 == 0 {
            Some(server(0x5EED_0001 + i as u32))
        } else {
            None
        },
        registration_life: match i % 3 {
            0 => 30_000,
            1 => -1,
            _ => 5_000 + i as i32,
        },
        user_transport: user_transport(i),
        policy: PolicyParam::Known(policy(i)),
        asap_transport: if i % 2 == 0 { Some(sctp(3863)) } else { None },
    }
}

/// Calls `f` with a name and a message, for every sample: all 14 ASAP and
/// 10 ENRP message types, every flag, and all 18 policies (one REGISTRATION
/// per policy).
pub fn for_each(f: &mut dyn FnMut(&str, Message<'_>)) {
    let handle: &[u8] = b"EchoPool";
    let binary_handle: &[u8] = &[0x00, 0x01, 0xFE, 0xFF];
    let elements: [PoolElementParam<'static>; 18] = core::array::from_fn(element);

    // ASAP_REGISTRATION, once per policy.
    for e in &elements {
        let name = format!(
            "asap_registration_{}",
            Policy::short_name_of(e.policy.policy_type())
        );
        let name = name.to_lowercase().replace('-', "_");
        f(
            &name,
            Message::Asap(AsapMessage::Registration {
                pool_handle: handle,
                pool_element: *e,
            }),
        );
    }
    let opaque = PoolElementParam {
        user_transport: UserTransport::Opaque(b"opaque-user-transport"),
        ..elements[1]
    };
    f(
        "asap_registration_opaque",
        Message::Asap(AsapMessage::Registration {
            pool_handle: binary_handle,
            pool_element: opaque,
        }),
    );
    f(
        "asap_deregistration",
        Message::Asap(AsapMessage::Deregistration {
            pool_handle: handle,
            pe_id: pe(0x0102_0304),
        }),
    );
    let non_unique = [ErrorCause::new(CauseCode::NonUniquePeIdentifier)];
    f(
        "asap_registration_response_rejected",
        Message::Asap(AsapMessage::RegistrationResponse {
            rejected: true,
            pool_handle: handle,
            pe_id: pe(0x0A0B_0C0D),
            error: Some(OperationError::new(&non_unique)),
        }),
    );
    f(
        "asap_registration_response",
        Message::Asap(AsapMessage::RegistrationResponse {
            rejected: false,
            pool_handle: handle,
            pe_id: pe(0x0A0B_0C0E),
            error: None,
        }),
    );
    let unknown = [ErrorCause::new(CauseCode::UnknownPoolHandle)];
    f(
        "asap_deregistration_response",
        Message::Asap(AsapMessage::DeregistrationResponse {
            pool_handle: handle,
            pe_id: pe(0x0A0B_0C0F),
            error: Some(OperationError::new(&unknown)),
        }),
    );
    f(
        "asap_handle_resolution",
        Message::Asap(AsapMessage::HandleResolution {
            subscribe: false,
            pool_handle: handle,
            items: None,
        }),
    );
    f(
        "asap_handle_resolution_subscribe_items",
        Message::Asap(AsapMessage::HandleResolution {
            subscribe: true,
            pool_handle: handle,
            items: Some(0xFFFF_FFFF),
        }),
    );
    f(
        "asap_handle_resolution_response",
        Message::Asap(AsapMessage::HandleResolutionResponse {
            accept_updates: true,
            pool_handle: handle,
            policy: Some(PolicyParam::Known(policy(6))),
            elements: List::from_slice(&elements[3..6]),
            error: None,
        }),
    );
    f(
        "asap_handle_resolution_response_negative",
        Message::Asap(AsapMessage::HandleResolutionResponse {
            accept_updates: false,
            pool_handle: handle,
            policy: None,
            elements: List::empty(),
            error: Some(OperationError::new(&unknown)),
        }),
    );
    f(
        "asap_endpoint_keep_alive_home",
        Message::Asap(AsapMessage::EndpointKeepAlive {
            home: true,
            server_id: server(0xCAFE_0001),
            pool_handle: handle,
            pe_id: Some(pe(0x1111_2222)),
        }),
    );
    f(
        "asap_endpoint_keep_alive",
        Message::Asap(AsapMessage::EndpointKeepAlive {
            home: false,
            server_id: server(0xCAFE_0002),
            pool_handle: handle,
            pe_id: None,
        }),
    );
    f(
        "asap_endpoint_keep_alive_ack",
        Message::Asap(AsapMessage::EndpointKeepAliveAck {
            pool_handle: handle,
            pe_id: pe(0x1111_2223),
        }),
    );
    f(
        "asap_endpoint_unreachable",
        Message::Asap(AsapMessage::EndpointUnreachable {
            pool_handle: handle,
            pe_id: pe(0x1111_2224),
        }),
    );
    let announce = [
        sctp(3863),
        TransportParam::new(
            TransportProtocol::Tcp,
            3863,
            TransportUse::DataOnly,
            &ONE_V4,
        ),
    ];
    f(
        "asap_server_announce",
        Message::Asap(AsapMessage::ServerAnnounce {
            server_id: server(0xCAFE_0003),
            transports: List::from_slice(&announce),
        }),
    );
    f(
        "asap_server_announce_empty",
        Message::Asap(AsapMessage::ServerAnnounce {
            server_id: server(0xCAFE_0004),
            transports: List::empty(),
        }),
    );
    f(
        "asap_cookie",
        Message::Asap(AsapMessage::Cookie {
            cookie: b"\x01\x02\x03cookie",
        }),
    );
    f(
        "asap_cookie_echo",
        Message::Asap(AsapMessage::CookieEcho {
            cookie: b"\x01\x02\x03cookie!",
        }),
    );
    f(
        "asap_business_card",
        Message::Asap(AsapMessage::BusinessCard {
            pool_handle: handle,
            policy: Some(PolicyParam::Known(policy(0))),
            elements: List::from_slice(&elements[0..2]),
        }),
    );
    let unrecognized_tlv = [0x40, 0x77, 0x00, 0x06, 0xAB, 0xCD];
    let causes = [
        ErrorCause::unrecognized_parameter(&unrecognized_tlv),
        ErrorCause::inconsistent_policy(PolicyParam::Known(policy(1))),
        ErrorCause::inconsistent_transport(announce[1]),
        ErrorCause::new(CauseCode::LackOfResources),
    ];
    f(
        "asap_error",
        Message::Asap(AsapMessage::Error {
            error: OperationError::new(&causes),
        }),
    );

    // ENRP
    let me = server(0x5EED_0001);
    let peer = server(0x5EED_0002);
    fn enrp<'a>(receiver: Option<ServerId>, body: EnrpBody<'a>) -> EnrpMessage<'a> {
        EnrpMessage {
            sender: server(0x5EED_0001),
            receiver,
            body,
        }
    }
    let info = ServerInfoParam {
        server_id: me,
        transport: sctp(9901),
    };
    f(
        "enrp_presence_reply_required",
        Message::Enrp(enrp(
            Some(peer),
            EnrpBody::Presence {
                reply_required: true,
                checksum: Some(0xBEEF),
                server_info: Some(info),
            },
        )),
    );
    f(
        "enrp_presence",
        Message::Enrp(enrp(
            None,
            EnrpBody::Presence {
                reply_required: false,
                checksum: Some(0xFFFF),
                server_info: None,
            },
        )),
    );
    f(
        "enrp_handle_table_request",
        Message::Enrp(enrp(
            Some(peer),
            EnrpBody::HandleTableRequest {
                own_children_only: true,
            },
        )),
    );
    let entries = [
        PoolEntry::new(handle, &elements[6..9]),
        PoolEntry::new(binary_handle, &elements[9..10]),
    ];
    f(
        "enrp_handle_table_response",
        Message::Enrp(enrp(
            Some(peer),
            EnrpBody::HandleTableResponse {
                more_to_send: true,
                rejected: false,
                entries: List::from_slice(&entries),
            },
        )),
    );
    f(
        "enrp_handle_table_response_rejected",
        Message::Enrp(enrp(
            Some(peer),
            EnrpBody::HandleTableResponse {
                more_to_send: false,
                rejected: true,
                entries: List::empty(),
            },
        )),
    );
    f(
        "enrp_handle_update_add",
        Message::Enrp(enrp(
            None,
            EnrpBody::HandleUpdate {
                takeover_suggested: true,
                action: UpdateAction::AddPe,
                pool_handle: handle,
                pool_element: elements[10],
            },
        )),
    );
    f(
        "enrp_handle_update_del",
        Message::Enrp(enrp(
            None,
            EnrpBody::HandleUpdate {
                takeover_suggested: false,
                action: UpdateAction::DelPe,
                pool_handle: handle,
                pool_element: elements[11],
            },
        )),
    );
    f(
        "enrp_list_request",
        Message::Enrp(enrp(Some(peer), EnrpBody::ListRequest)),
    );
    let servers = [
        info,
        ServerInfoParam {
            server_id: peer,
            transport: TransportParam::new(
                TransportProtocol::Sctp,
                9901,
                TransportUse::DataOnly,
                &ONE_V6,
            ),
        },
    ];
    f(
        "enrp_list_response",
        Message::Enrp(enrp(
            Some(peer),
            EnrpBody::ListResponse {
                rejected: false,
                servers: List::from_slice(&servers),
            },
        )),
    );
    f(
        "enrp_list_response_rejected",
        Message::Enrp(enrp(
            Some(peer),
            EnrpBody::ListResponse {
                rejected: true,
                servers: List::empty(),
            },
        )),
    );
    let target = server(0x7A76_0001);
    f(
        "enrp_init_takeover",
        Message::Enrp(enrp(None, EnrpBody::InitTakeover { target })),
    );
    f(
        "enrp_init_takeover_ack",
        Message::Enrp(enrp(Some(peer), EnrpBody::InitTakeoverAck { target })),
    );
    f(
        "enrp_takeover_server",
        Message::Enrp(enrp(None, EnrpBody::TakeoverServer { target })),
    );
    f(
        "enrp_error",
        Message::Enrp(enrp(
            Some(peer),
            EnrpBody::Error {
                error: OperationError::new(&causes[..2]),
            },
        )),
    );
}

/// Encodes a message into a fresh buffer of exactly its size.
pub fn encode(m: &Message<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; m.buffer_len()];
    let n = m.emit(&mut buf).expect("sample encodes");
    buf.truncate(n);
    buf
}

/// Malformed inputs worth keeping in the corpus: truncations, bad lengths,
/// unknown types, zero identifiers, and the like. `(name, is_enrp, bytes)`.
pub fn malformed() -> Vec<(String, bool, Vec<u8>)> {
    let mut out = Vec::new();
    let mut valid = Vec::new();
    for_each(&mut |name, m| {
        valid.push((name.to_string(), matches!(m, Message::Enrp(_)), encode(&m)));
    });
    let pick = |n: &str| {
        valid
            .iter()
            .find(|(name, _, _)| name == n)
            .cloned()
            .expect("sample exists")
    };
    // Truncated in the middle of a parameter.
    let (_, e, b) = pick("asap_handle_resolution_response");
    out.push(("truncated_hr_response".into(), e, b[..b.len() / 2].to_vec()));
    // Message Length larger than the data.
    let (_, e, mut b) = pick("asap_registration_rr");
    b[3] = b[3].wrapping_add(8);
    out.push(("length_too_long".into(), e, b));
    // Message Length below the header.
    out.push(("length_below_header".into(), false, vec![0x0E, 0, 0, 2]));
    // A parameter length running past the message end.
    let (_, e, mut b) = pick("asap_deregistration");
    b[7] = 0xF0;
    out.push(("param_length_overrun".into(), e, b));
    // Unknown parameter types with each action.
    for (i, ty) in [0x0077u16, 0x4077, 0x8077, 0xC077].into_iter().enumerate() {
        let (_, e, mut b) = pick("asap_handle_resolution");
        b.extend_from_slice(&ty.to_be_bytes());
        b.extend_from_slice(&[0, 6, 0xAB, 0xCD, 0, 0]);
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        out.push((format!("unknown_param_{i}"), e, b));
    }
    // Unknown message types (discard, and discard-and-report).
    out.push(("unknown_message_0x3f".into(), false, vec![0x3F, 0, 0, 4]));
    out.push((
        "unknown_message_0x7f".into(),
        true,
        vec![0x7F, 0, 0, 8, 0, 0, 0, 1],
    ));
    // A zero PE identifier.
    let (_, e, mut b) = pick("asap_endpoint_unreachable");
    let n = b.len();
    b[n - 4..].fill(0);
    out.push(("zero_pe_id".into(), e, b));
    // A zero sending server.
    let (_, e, mut b) = pick("enrp_list_request");
    b[4..8].fill(0);
    out.push(("zero_sender".into(), e, b));
    // RFC-style nested length (last nested parameter's padding excluded).
    let (_, e, b) = pick("asap_registration_opaque");
    out.push(("rfc_nested_padding".into(), e, rfc_lengths(&b)));
    // Non-zero padding and trailing bytes.
    let (_, e, mut b) = pick("asap_cookie");
    b.push(0xAA);
    out.push(("trailing_byte".into(), e, b));
    // Empty input and a lone header.
    out.push(("empty".into(), false, Vec::new()));
    out.push((
        "header_only_enrp".into(),
        true,
        vec![0x01, 0x01, 0x00, 0x04],
    ));
    out
}

/// Rewrites a message's Message Length to leave out the final padding of
/// its last parameter, as RFC 5354 §2 describes (the codec emits rsplib's
/// form, padding included).
fn rfc_lengths(msg: &[u8]) -> Vec<u8> {
    let mut b = msg.to_vec();
    // Walk the top-level parameters to find the last one's unpadded length.
    let mut at = 4;
    let mut last_end = 4;
    while at + 4 <= b.len() {
        let len = usize::from(u16::from_be_bytes([b[at + 2], b[at + 3]]));
        if len < 4 {
            break;
        }
        last_end = at + len;
        at += (len + 3) & !3;
    }
    if last_end <= b.len() {
        let l = last_end as u16;
        b[2..4].copy_from_slice(&l.to_be_bytes());
    }
    b
}
