//! Golden tests: hand-built messages, written from the RFC 5351-5356 layouts
//! (not from the encoder), checked field by field; both nested-padding
//! conventions; the PE checksum values of the RFC 5353 §3.6.2 algorithm;
//! unknown parameter and message types; every strict prefix of every golden
//! message; a corpus of malformed messages.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rserpool::addr::{TransportError, TransportProtocol, TransportUse};
use rserpool::id::IdError;
use rserpool::policy::{Policy, PolicyError};
use rserpool::wire::*;
use rserpool::{CauseCode, PeId, ServerId};

/// Hex with spaces and `|` separators.
fn h(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
    assert!(digits.len() % 2 == 0, "odd hex: {s}");
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

fn pe(v: u32) -> PeId {
    PeId::new(v).unwrap()
}
fn sid(v: u32) -> ServerId {
    ServerId::new(v).unwrap()
}
fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

const ECHO_POOL: &str = "0009 000c 4563686f506f6f6c"; // "EchoPool"
const ECHO: &str = "0009 0008 4563686f"; // "Echo"

// ---- ASAP -----------------------------------------------------------------

fn registration() -> Vec<u8> {
    h(&format!(
        "01 00 0050 | {ECHO_POOL} |
         000a 0040 12345678 00000000 0000ea60 |
           0004 0024 1388 0001 | 0001 0008 c0a80001 | 0002 0014 20010db8000000000000000000000001 |
           0008 000c 40000001 00000010"
    ))
}
fn deregistration() -> Vec<u8> {
    h("02 00 0014 | 0009 0005 50 000000 | 000e 0008 12345678")
}
fn registration_response() -> Vec<u8> {
    h(&format!(
        "03 01 0028 | {ECHO_POOL} | 000e 0008 12345678 |
         000c 0010 0005 000c 0008 0008 00000001"
    ))
}
fn deregistration_response() -> Vec<u8> {
    h(&format!("04 00 0014 | {ECHO} | 000e 0008 00000001"))
}
fn handle_resolution() -> Vec<u8> {
    h(&format!("05 01 0014 | {ECHO} | 803f 0008 00000003"))
}
fn handle_resolution_response() -> Vec<u8> {
    h(&format!(
        "06 01 0080 | {ECHO} | 0008 000c 00000002 00000005 |
         000a 003c 00000001 0a0b0c0d ffffffff |
           0005 0010 0050 0000 | 0001 0008 0a000001 |
           0008 000c 00000002 00000005 |
           0004 0010 0f17 0001 | 0001 0008 0a000001 |
         000a 002c 00000002 00000000 00000000 |
           0006 0010 1f90 0000 | 0001 0008 0a000002 |
           0008 000c 00000002 00000007"
    ))
}
fn keep_alive() -> Vec<u8> {
    h(&format!(
        "07 01 0018 | 0000abcd | {ECHO} | 000e 0008 12345678"
    ))
}
fn keep_alive_ack() -> Vec<u8> {
    h(&format!("08 00 0014 | {ECHO} | 000e 0008 12345678"))
}
fn unreachable() -> Vec<u8> {
    h(&format!("09 00 0014 | {ECHO} | 000e 0008 12345678"))
}
fn server_announce() -> Vec<u8> {
    h("0a 00 0030 | 00000042 |
       0004 0018 0f17 0001 | 0001 0008 c0000201 | 0001 0008 c0000202 |
       0005 0010 0f17 0000 | 0001 0008 c0000201")
}
fn cookie() -> Vec<u8> {
    h("0b 00 0010 | 000d 0009 68656c6c6f 000000")
}
fn cookie_echo() -> Vec<u8> {
    h("0c 00 000c | 000d 0008 deadbeef")
}
fn business_card() -> Vec<u8> {
    h(&format!(
        "0d 00 002c | {ECHO} |
         000a 0020 00000005 00000000 00000010 |
           0010 0007 616263 00 |
           0008 0008 00000003"
    ))
}
fn asap_error() -> Vec<u8> {
    h("0e 00 0014 | 000c 0010 | 0001 000a 7fff0006abcd 0000")
}

// ---- ENRP -----------------------------------------------------------------

const SMALL_PE: &str = "000a 0028 00000007 00000000 00000e10 |
    0004 0010 1388 0000 | 0001 0008 0a000001 | 0008 0008 00000001";

fn presence() -> Vec<u8> {
    h("01 01 002c | 00000001 | 00000000 | 000f 0006 f8a4 0000 |
       000b 0018 00000001 | 0004 0010 26ad 0000 | 0001 0008 7f000001")
}
fn handle_table_request() -> Vec<u8> {
    h("02 01 000c | 00000001 | 00000002")
}
fn handle_table_response() -> Vec<u8> {
    h(&format!(
        "03 02 0094 | 00000002 | 00000001 |
         0009 0005 50 000000 | {SMALL_PE} | {SMALL_PE} |
         {ECHO} | {SMALL_PE}"
    ))
}
fn handle_update() -> Vec<u8> {
    h(&format!(
        "04 01 0040 | 00000001 | 00000000 | 0001 0000 | {ECHO} | {SMALL_PE}"
    ))
}
fn list_request() -> Vec<u8> {
    h("05 00 000c | 00000003 | 00000001")
}
fn list_response() -> Vec<u8> {
    h("06 00 0048 | 00000001 | 00000003 |
       000b 0018 00000001 | 0004 0010 26ad 0000 | 0001 0008 7f000001 |
       000b 0024 00000005 | 0004 001c 26ad 0000 | 0002 0014 fe800000000000000000000000000001")
}
fn init_takeover() -> Vec<u8> {
    h("07 00 0010 | 00000001 | 00000000 | 00000009")
}
fn init_takeover_ack() -> Vec<u8> {
    h("08 00 0010 | 00000002 | 00000001 | 00000009")
}
fn takeover_server() -> Vec<u8> {
    h("09 00 0010 | 00000001 | 00000000 | 00000009")
}
fn enrp_error() -> Vec<u8> {
    h("0a 00 0014 | 00000001 | 00000002 | 000c 0008 0006 0004")
}

fn asap_golden() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("REGISTRATION", registration()),
        ("DEREGISTRATION", deregistration()),
        ("REGISTRATION_RESPONSE", registration_response()),
        ("DEREGISTRATION_RESPONSE", deregistration_response()),
        ("HANDLE_RESOLUTION", handle_resolution()),
        ("HANDLE_RESOLUTION_RESPONSE", handle_resolution_response()),
        ("ENDPOINT_KEEP_ALIVE", keep_alive()),
        ("ENDPOINT_KEEP_ALIVE_ACK", keep_alive_ack()),
        ("ENDPOINT_UNREACHABLE", unreachable()),
        ("SERVER_ANNOUNCE", server_announce()),
        ("COOKIE", cookie()),
        ("COOKIE_ECHO", cookie_echo()),
        ("BUSINESS_CARD", business_card()),
        ("ERROR", asap_error()),
    ]
}

fn enrp_golden() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("PRESENCE", presence()),
        ("HANDLE_TABLE_REQUEST", handle_table_request()),
        ("HANDLE_TABLE_RESPONSE", handle_table_response()),
        ("HANDLE_UPDATE", handle_update()),
        ("LIST_REQUEST", list_request()),
        ("LIST_RESPONSE", list_response()),
        ("INIT_TAKEOVER", init_takeover()),
        ("INIT_TAKEOVER_ACK", init_takeover_ack()),
        ("TAKEOVER_SERVER", takeover_server()),
        ("ERROR", enrp_error()),
    ]
}

fn asap(b: &[u8]) -> AsapMessage<'_> {
    AsapMessage::parse(b).unwrap_or_else(|e| panic!("{e:?} parsing {b:02x?}"))
}
fn enrp(b: &[u8]) -> EnrpMessage<'_> {
    EnrpMessage::parse(b).unwrap_or_else(|e| panic!("{e:?} parsing {b:02x?}"))
}

#[test]
fn golden_data_is_self_consistent() {
    for (name, b) in asap_golden().into_iter().chain(enrp_golden()) {
        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        assert_eq!(len, b.len(), "{name}: message length field");
        assert_eq!(b.len() % 4, 0, "{name}");
    }
}

#[test]
fn golden_messages_reemit_identically() {
    for (name, b) in asap_golden() {
        let m = asap(&b);
        assert_eq!(m.name(), format!("ASAP_{name}"));
        assert_eq!(u8::from(m.message_type()), b[0]);
        assert_eq!(m.flags(), b[1]);
        assert_eq!(m.buffer_len(), b.len(), "{name}");
        let mut out = vec![0u8; b.len()];
        assert_eq!(m.emit(&mut out), Ok(b.len()), "{name}");
        assert_eq!(out, b, "{name}");
        assert!(!m.to_string().is_empty());
    }
    for (name, b) in enrp_golden() {
        let m = enrp(&b);
        assert_eq!(m.name(), format!("ENRP_{name}"));
        assert_eq!(u8::from(m.message_type()), b[0]);
        assert_eq!(m.flags(), b[1]);
        assert_eq!(m.buffer_len(), b.len(), "{name}");
        let mut out = vec![0u8; b.len()];
        assert_eq!(m.emit(&mut out), Ok(b.len()), "{name}");
        assert_eq!(out, b, "{name}");
    }
}

#[test]
fn golden_registration() {
    let b = registration();
    let AsapMessage::Registration {
        pool_handle,
        pool_element: p,
    } = asap(&b)
    else {
        panic!()
    };
    assert_eq!(pool_handle, b"EchoPool");
    assert_eq!(p.pe_id, pe(0x12345678));
    assert_eq!(p.home_server, None);
    assert_eq!(p.registration_life, 60000);
    let t = p.user_transport.transport().unwrap();
    assert_eq!(t.protocol, TransportProtocol::Sctp);
    assert_eq!(t.port, 5000);
    assert_eq!(t.transport_use, TransportUse::DataAndControl);
    assert_eq!(t.service_code, 0);
    let addrs: Vec<IpAddr> = t.addresses.iter().collect();
    assert_eq!(
        addrs,
        [
            v4(192, 168, 0, 1),
            IpAddr::V6("2001:db8::1".parse::<Ipv6Addr>().unwrap())
        ]
    );
    assert_eq!(t.addresses.len(), 2);
    assert_eq!(p.policy, PolicyParam::Known(Policy::LeastUsed { load: 16 }));
    assert_eq!(p.asap_transport, None);
    assert_eq!(
        asap(&b).to_string(),
        "ASAP_REGISTRATION pool=EchoPool PE 0x12345678 home=none life=60000 \
         user=SCTP:5000[192.168.0.1,2001:db8::1] data+control policy=LU(0x10)"
    );
}

#[test]
fn golden_asap_simple() {
    let b = deregistration();
    assert_eq!(
        asap(&b),
        AsapMessage::Deregistration {
            pool_handle: b"P",
            pe_id: pe(0x12345678)
        }
    );
    let b = registration_response();
    let AsapMessage::RegistrationResponse {
        rejected,
        pool_handle,
        pe_id,
        error: Some(error),
    } = asap(&b)
    else {
        panic!()
    };
    assert!(rejected);
    assert_eq!(pool_handle, b"EchoPool");
    assert_eq!(pe_id, pe(0x12345678));
    assert_eq!(error.causes.len(), 1);
    let cause = error.causes.first().unwrap();
    assert_eq!(cause.code, CauseCode::InconsistentPoolingPolicy);
    assert_eq!(
        cause.data,
        CauseData::Policy(PolicyParam::Known(Policy::RoundRobin))
    );
    assert_eq!(error.code(), Some(CauseCode::InconsistentPoolingPolicy));

    let b = deregistration_response();
    assert_eq!(
        asap(&b),
        AsapMessage::DeregistrationResponse {
            pool_handle: b"Echo",
            pe_id: pe(1),
            error: None
        }
    );
    let b = handle_resolution();
    assert_eq!(
        asap(&b),
        AsapMessage::HandleResolution {
            subscribe: true,
            pool_handle: b"Echo",
            items: Some(3)
        }
    );
    let b = keep_alive();
    assert_eq!(
        asap(&b),
        AsapMessage::EndpointKeepAlive {
            home: true,
            server_id: sid(0xabcd),
            pool_handle: b"Echo",
            pe_id: Some(pe(0x12345678))
        }
    );
    // RFC 5352 form, without rsplib's PE Identifier.
    let b = h(&format!("07 00 0010 | 0000abcd | {ECHO}"));
    assert_eq!(
        asap(&b),
        AsapMessage::EndpointKeepAlive {
            home: false,
            server_id: sid(0xabcd),
            pool_handle: b"Echo",
            pe_id: None
        }
    );
    let b = keep_alive_ack();
    assert_eq!(
        asap(&b),
        AsapMessage::EndpointKeepAliveAck {
            pool_handle: b"Echo",
            pe_id: pe(0x12345678)
        }
    );
    let b = unreachable();
    assert_eq!(
        asap(&b),
        AsapMessage::EndpointUnreachable {
            pool_handle: b"Echo",
            pe_id: pe(0x12345678)
        }
    );
    let b = cookie();
    assert_eq!(asap(&b), AsapMessage::Cookie { cookie: b"hello" });
    let b = cookie_echo();
    assert_eq!(
        asap(&b),
        AsapMessage::CookieEcho {
            cookie: &[0xde, 0xad, 0xbe, 0xef]
        }
    );
    let b = asap_error();
    let AsapMessage::Error { error } = asap(&b) else {
        panic!()
    };
    let causes: Vec<ErrorCause> = error.causes.iter().collect();
    assert_eq!(
        causes,
        [ErrorCause::unrecognized_parameter(&[
            0x7f, 0xff, 0x00, 0x06, 0xab, 0xcd
        ])]
    );
}

#[test]
fn golden_handle_resolution_response() {
    let b = handle_resolution_response();
    let AsapMessage::HandleResolutionResponse {
        accept_updates,
        pool_handle,
        policy,
        elements,
        error,
    } = asap(&b)
    else {
        panic!()
    };
    assert!(accept_updates);
    assert_eq!(pool_handle, b"Echo");
    assert_eq!(
        policy,
        Some(PolicyParam::Known(Policy::WeightedRoundRobin { weight: 5 }))
    );
    assert_eq!(error, None);
    assert_eq!(elements.len(), 2);
    let pes: Vec<PoolElementParam> = elements.iter().collect();
    assert_eq!(pes[0].pe_id, pe(1));
    assert_eq!(pes[0].home_server, Some(sid(0x0a0b0c0d)));
    assert_eq!(pes[0].registration_life, REGISTRATION_LIFE_INFINITE);
    assert!(pes[0].is_infinite());
    let user = pes[0].user_transport.transport().unwrap();
    assert_eq!(user.protocol, TransportProtocol::Tcp);
    assert_eq!(user.port, 80);
    assert_eq!(user.transport_use, TransportUse::DataOnly);
    assert_eq!(user.addresses.first(), Some(v4(10, 0, 0, 1)));
    let asap_t = pes[0].asap_transport.unwrap();
    assert_eq!(asap_t.protocol, TransportProtocol::Sctp);
    assert_eq!(asap_t.port, 3863);
    assert_eq!(asap_t.transport_use, TransportUse::DataAndControl);
    assert_eq!(pes[1].pe_id, pe(2));
    assert_eq!(pes[1].home_server, None);
    assert_eq!(pes[1].registration_life, 0);
    let user = pes[1].user_transport.transport().unwrap();
    assert_eq!(user.protocol, TransportProtocol::Udp);
    assert_eq!(user.port, 8080);
    assert_eq!(
        pes[1].policy,
        PolicyParam::Known(Policy::WeightedRoundRobin { weight: 7 })
    );
    assert_eq!(pes[1].asap_transport, None);
}

#[test]
fn golden_server_announce_and_business_card() {
    let b = server_announce();
    let AsapMessage::ServerAnnounce {
        server_id,
        transports,
    } = asap(&b)
    else {
        panic!()
    };
    assert_eq!(server_id, sid(0x42));
    let ts: Vec<TransportParam> = transports.iter().collect();
    assert_eq!(ts.len(), 2);
    assert_eq!(ts[0].protocol, TransportProtocol::Sctp);
    assert_eq!(
        ts[0].addresses.iter().collect::<Vec<_>>(),
        [v4(192, 0, 2, 1), v4(192, 0, 2, 2)]
    );
    assert_eq!(ts[1].protocol, TransportProtocol::Tcp);
    assert_eq!(ts[1].port, 3863);

    let b = business_card();
    let AsapMessage::BusinessCard {
        pool_handle,
        policy,
        elements,
    } = asap(&b)
    else {
        panic!()
    };
    assert_eq!(pool_handle, b"Echo");
    assert_eq!(policy, None);
    let p = elements.first().unwrap();
    assert_eq!(elements.len(), 1);
    assert_eq!(p.pe_id, pe(5));
    assert_eq!(p.registration_life, 16);
    assert_eq!(p.user_transport, UserTransport::Opaque(b"abc"));
    assert_eq!(p.policy, PolicyParam::Known(Policy::Random));
}

#[test]
fn golden_enrp() {
    let b = presence();
    let m = enrp(&b);
    assert_eq!(m.sender, sid(1));
    assert_eq!(m.receiver, None);
    let EnrpBody::Presence {
        reply_required,
        checksum,
        server_info: Some(info),
    } = m.body
    else {
        panic!()
    };
    assert!(reply_required);
    assert_eq!(checksum, Some(0xF8A4));
    assert_eq!(info.server_id, sid(1));
    assert_eq!(info.transport.port, 9901);
    assert_eq!(info.transport.addresses.first(), Some(v4(127, 0, 0, 1)));

    assert_eq!(
        enrp(&handle_table_request()),
        EnrpMessage {
            sender: sid(1),
            receiver: Some(sid(2)),
            body: EnrpBody::HandleTableRequest {
                own_children_only: true
            }
        }
    );

    let b = handle_table_response();
    let m = enrp(&b);
    assert_eq!((m.sender, m.receiver), (sid(2), Some(sid(1))));
    let EnrpBody::HandleTableResponse {
        more_to_send,
        rejected,
        entries,
    } = m.body
    else {
        panic!()
    };
    assert!(more_to_send);
    assert!(!rejected);
    let entries: Vec<PoolEntry> = entries.iter().collect();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].pool_handle, b"P");
    assert_eq!(entries[0].elements.len(), 2);
    assert_eq!(entries[1].pool_handle, b"Echo");
    assert_eq!(entries[1].elements.len(), 1);
    for e in &entries {
        for p in e.elements.iter() {
            assert_eq!(p.pe_id, pe(7));
            assert_eq!(p.registration_life, 3600);
            assert_eq!(p.policy, PolicyParam::Known(Policy::RoundRobin));
        }
    }

    let b = handle_update();
    let m = enrp(&b);
    let EnrpBody::HandleUpdate {
        takeover_suggested,
        action,
        pool_handle,
        pool_element,
    } = m.body
    else {
        panic!()
    };
    assert!(takeover_suggested);
    assert_eq!(action, UpdateAction::DelPe);
    assert_eq!(pool_handle, b"Echo");
    assert_eq!(pool_element.pe_id, pe(7));

    assert_eq!(
        enrp(&list_request()),
        EnrpMessage {
            sender: sid(3),
            receiver: Some(sid(1)),
            body: EnrpBody::ListRequest
        }
    );
    let b = list_response();
    let EnrpBody::ListResponse { rejected, servers } = enrp(&b).body else {
        panic!()
    };
    assert!(!rejected);
    let servers: Vec<ServerInfoParam> = servers.iter().collect();
    assert_eq!(servers.len(), 2);
    assert_eq!(servers[1].server_id, sid(5));
    assert_eq!(
        servers[1].transport.addresses.first(),
        Some(IpAddr::V6("fe80::1".parse().unwrap()))
    );
    let b = init_takeover();
    assert_eq!(enrp(&b).body, EnrpBody::InitTakeover { target: sid(9) });
    let b = init_takeover_ack();
    assert_eq!(enrp(&b).body, EnrpBody::InitTakeoverAck { target: sid(9) });
    let b = takeover_server();
    assert_eq!(enrp(&b).body, EnrpBody::TakeoverServer { target: sid(9) });
    let b = enrp_error();
    let m = enrp(&b);
    let EnrpBody::Error { error } = m.body else {
        panic!()
    };
    assert_eq!(error.code(), Some(CauseCode::LackOfResources));
    assert_eq!(error.causes.first().unwrap().bytes(), Some(&[][..]));
}

#[test]
fn pe_checksum_values() {
    for (sum, hex) in [(0xF8A4u16, "f8a4"), (0xA0B4, "a0b4")] {
        let b = h(&format!(
            "01 00 0014 | 00000001 | 00000000 | 000f 0006 {hex} 0000"
        ));
        let m = enrp(&b);
        assert_eq!(
            m.body,
            EnrpBody::Presence {
                reply_required: false,
                checksum: Some(sum),
                server_info: None
            }
        );
        let mut out = [0u8; 20];
        assert_eq!(m.emit(&mut out), Ok(20));
        assert_eq!(&out[..], &b[..]);
    }
    // The checksum parameter has exactly 2 value bytes.
    let b = h("01 00 0014 | 00000001 | 00000000 | 000f 0008 a0b4 0000");
    assert_eq!(
        EnrpMessage::parse(&b),
        Err(Error::BadParameterLength { param_type: 0x000f })
    );
}

#[test]
fn both_nested_padding_conventions() {
    // RFC 5354: the Operation Error's length leaves out its last cause's
    // padding, and the Message Length leaves out the Operation Error's.
    let rfc = h("0e 00 0012 | 000c 000e | 0001 000a 7fff0006abcd 0000");
    let rsplib = asap_error();
    assert_eq!(asap(&rfc), asap(&rsplib));
    let mut out = [0u8; 20];
    assert_eq!(asap(&rfc).emit(&mut out), Ok(20));
    assert_eq!(&out[..], &rsplib[..]);
    // Without the trailing padding at all (18 bytes).
    assert_eq!(asap(&rfc[..18]), asap(&rsplib));

    // A cookie as the last parameter: Message Length 13 (RFC) or 16 (rsplib).
    let rfc = h("0b 00 000d | 000d 0009 68656c6c6f 000000");
    assert_eq!(asap(&rfc), asap(&cookie()));
    assert_eq!(asap(&rfc[..13]), asap(&cookie()));

    // Last nested parameter with padding: an unknown skippable one.
    let nested_rsplib = h(&format!(
        "0d 00 0034 | {ECHO} | 000a 0028 00000005 00000000 00000010 |
           0010 0007 616263 00 | 0008 0008 00000003 | 8abc 0005 ee 000000"
    ));
    let nested_rfc = h(&format!(
        "0d 00 0031 | {ECHO} | 000a 0025 00000005 00000000 00000010 |
           0010 0007 616263 00 | 0008 0008 00000003 | 8abc 0005 ee 000000"
    ));
    assert_eq!(asap(&nested_rsplib), asap(&business_card()));
    assert_eq!(asap(&nested_rfc), asap(&business_card()));
}

#[test]
fn padding_bytes_are_ignored() {
    let mut b = cookie();
    b[13] = 0xff; // padding after "hello"
    assert_eq!(asap(&b), asap(&cookie()));
    let mut b = deregistration();
    b[9..12].copy_from_slice(&[1, 2, 3]);
    assert_eq!(asap(&b), asap(&deregistration()));
}

#[test]
fn unknown_parameter_actions() {
    let with = |ty: &str| {
        h(&format!(
            "02 00 001c | 0009 0005 50 000000 | {ty} 0006 abcd 0000 | 000e 0008 12345678"
        ))
    };
    for (ty, action) in [
        ("0123", ParamAction::Stop),
        ("4123", ParamAction::StopAndReport),
    ] {
        let b = with(ty);
        let e = AsapMessage::parse(&b).unwrap_err();
        let param_type = u16::from_str_radix(ty, 16).unwrap();
        assert_eq!(
            e,
            Error::UnrecognizedParameter {
                param_type,
                action,
                offset: 12,
                len: 6
            }
        );
        assert_eq!(e.offending_bytes(&b), Some(&b[12..18]));
        assert_eq!(action.reports(), ty == "4123");
        assert!(!action.skips());
    }
    for (ty, action) in [
        ("8123", ParamAction::Skip),
        ("c123", ParamAction::SkipAndReport),
    ] {
        let b = with(ty);
        assert_eq!(asap(&b), asap(&deregistration()));
        let found: Vec<Unrecognized> = unrecognized_parameters(Protocol::Asap, &b).collect();
        assert_eq!(
            found,
            [Unrecognized {
                param_type: u16::from_str_radix(ty, 16).unwrap(),
                action,
                tlv: &b[12..18]
            }]
        );
        assert!(action.skips());
        assert_eq!(action.reports(), ty == "c123");
    }
    // Nested: an unknown stop parameter inside an SCTP transport inside a PE.
    let b = h(&format!(
        "01 00 003c | {ECHO} |
         000a 0030 12345678 00000000 0000ea60 |
           0004 0018 1388 0000 | 0001 0008 c0a80001 | 4444 0008 01020304 |
           0008 0008 00000001"
    ));
    let e = AsapMessage::parse(&b).unwrap_err();
    assert_eq!(
        e,
        Error::UnrecognizedParameter {
            param_type: 0x4444,
            action: ParamAction::StopAndReport,
            offset: 44,
            len: 8
        }
    );
    assert_eq!(e.offending_bytes(&b), Some(&h("4444 0008 01020304")[..]));
    // The same, skippable, is found by the walker at depth 3.
    let mut b2 = b.clone();
    b2[44] = 0xc4;
    let m = asap(&b2);
    assert!(matches!(m, AsapMessage::Registration { .. }));
    let found: Vec<Unrecognized> = unrecognized_parameters(Protocol::Asap, &b2).collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].param_type, 0xc444);
    assert_eq!(found[0].tlv, &b2[44..52]);
    // Building the report: an ERROR carrying the TLV.
    let causes = [ErrorCause::unrecognized_parameter(found[0].tlv)];
    let report = AsapMessage::Error {
        error: OperationError::new(&causes),
    };
    let mut out = [0u8; 64];
    let n = report.emit(&mut out).unwrap();
    assert_eq!(
        &out[..n],
        &h("0e 00 0014 | 000c 0010 | 0001 000c c4440008 01020304")[..]
    );
    // ENRP messages: the walker skips the fixed fields.
    let b = h("09 00 0018 | 00000001 | 00000000 | 00000009 | 8001 0008 00000000");
    assert_eq!(enrp(&b).body, EnrpBody::TakeoverServer { target: sid(9) });
    let found: Vec<Unrecognized> = unrecognized_parameters(Protocol::Enrp, &b).collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].tlv, &b[16..24]);
}

#[test]
fn unknown_message_types() {
    for (ty, action) in [
        (0x0fu8, MessageAction::Discard),
        (0x4f, MessageAction::DiscardAndReport),
        (0x8f, MessageAction::Discard),
        (0xff, MessageAction::Discard),
        (0x00, MessageAction::Discard),
    ] {
        let mut b = h("00 00 0009 | 0009 0005 41 000000");
        b[0] = ty;
        let e = AsapMessage::parse(&b).unwrap_err();
        assert_eq!(
            e,
            Error::UnrecognizedMessage {
                message_type: ty,
                action
            }
        );
        assert_eq!(e.offending_bytes(&b), Some(&b[..9]));
        let mut e = b.clone();
        e[0] = if ty == 0x4f { 0x4b } else { ty };
        if ty != 0 {
            assert_eq!(
                EnrpMessage::parse(&e),
                Err(Error::UnrecognizedMessage {
                    message_type: e[0],
                    action
                })
            );
        }
    }
    let b = h("40 00 000c | 00000001 | 00000000");
    let e = EnrpMessage::parse(&b).unwrap_err();
    assert_eq!(
        e,
        Error::UnrecognizedMessage {
            message_type: 0x40,
            action: MessageAction::DiscardAndReport
        }
    );
    // Building the report.
    let msg = e.offending_bytes(&b).unwrap();
    let causes = [ErrorCause::unrecognized_message(msg)];
    let report = EnrpMessage {
        sender: sid(2),
        receiver: Some(sid(1)),
        body: EnrpBody::Error {
            error: OperationError::new(&causes),
        },
    };
    let mut out = [0u8; 64];
    let n = report.emit(&mut out).unwrap();
    assert_eq!(
        &out[..n],
        &h("0a 00 0020 | 00000002 | 00000001 | 000c 0014 | 0002 0010 4000000c 00000001 00000000")[..]
    );
}

#[test]
fn every_strict_prefix_is_truncated() {
    for (name, b) in asap_golden() {
        for n in 0..b.len() {
            let prefix = b[..n].to_vec();
            assert_eq!(
                AsapMessage::parse(&prefix),
                Err(Error::Truncated),
                "ASAP {name} prefix {n}"
            );
        }
    }
    for (name, b) in enrp_golden() {
        for n in 0..b.len() {
            let prefix = b[..n].to_vec();
            assert_eq!(
                EnrpMessage::parse(&prefix),
                Err(Error::Truncated),
                "ENRP {name} prefix {n}"
            );
        }
    }
}

#[test]
fn emit_reports_the_size_needed() {
    for (name, b) in asap_golden() {
        let m = asap(&b);
        for n in 0..b.len() {
            let mut out = vec![0u8; n];
            assert_eq!(
                m.emit(&mut out),
                Err(Error::BufferTooSmall { needed: b.len() }),
                "{name} into {n}"
            );
        }
        let mut big = vec![0xeeu8; b.len() + 10];
        assert_eq!(m.emit(&mut big), Ok(b.len()));
        assert_eq!(&big[..b.len()], &b[..]);
        assert!(big[b.len()..].iter().all(|&x| x == 0xee));
    }
    for (_, b) in enrp_golden() {
        let m = enrp(&b);
        let mut out = vec![0u8; b.len() - 1];
        assert_eq!(
            m.emit(&mut out),
            Err(Error::BufferTooSmall { needed: b.len() })
        );
        assert_eq!(m.encoded_len(), b.len());
    }
}

fn asap_err(b: &[u8]) -> Error {
    AsapMessage::parse(b).unwrap_err()
}
fn enrp_err(b: &[u8]) -> Error {
    EnrpMessage::parse(b).unwrap_err()
}

#[test]
fn malformed_lengths() {
    // Message Length beyond the input.
    assert_eq!(
        asap_err(&h("02 00 0018 | 0009 0005 50 000000 | 000e 0008 12345678")),
        Error::Truncated
    );
    // Message Length below the header.
    assert_eq!(
        asap_err(&h("02 00 0003 | 00000000")),
        Error::BadMessageLength
    );
    // Input longer than the message and its padding.
    let mut b = deregistration();
    b.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(asap_err(&b), Error::TrailingBytes);
    // Message Length cutting a parameter.
    assert_eq!(
        asap_err(&h("02 00 0012 | 0009 0005 50 000000 | 000e 0008 12345678")),
        Error::BadParameterLength { param_type: 0x000e }
    );
    // Odd message length whose padding is absent but a parameter overruns.
    assert_eq!(
        asap_err(&h("02 00 0013 | 0009 0005 50 000000 | 000e 0008 12345678")),
        Error::BadParameterLength { param_type: 0x000e }
    );
    // Parameter length below 4.
    assert_eq!(
        asap_err(&h("02 00 0010 | 0009 0003 000000 00 | 000e 0008")),
        Error::BadParameterLength { param_type: 0x0009 }
    );
    // Stray bytes after the last parameter.
    assert_eq!(
        asap_err(&h(
            "02 00 0016 | 0009 0005 50 000000 | 000e 0008 12345678 | 0000"
        )),
        Error::BadParameterLength { param_type: 0 }
    );
    // Fixed-size parameters with the wrong size.
    assert_eq!(
        asap_err(&h(&format!("02 00 0014 | {ECHO} | 000e 0007 123456 00"))),
        Error::BadParameterLength { param_type: 0x000e }
    );
    assert_eq!(
        asap_err(&h(&format!(
            "05 00 0018 | {ECHO} | 803f 000c 00000003 00000000"
        ))),
        Error::BadParameterLength { param_type: 0x803f }
    );
    // An IPv4 address of 5 bytes.
    assert_eq!(
        AsapMessage::parse(&h(
            "0a 00 001c | 00000001 | 0004 0010 0f17 0000 | 0001 0009 c0000201 00 000000"
        )),
        Err(Error::BadParameterLength { param_type: 0x0001 })
    );
    assert_eq!(
        TransportParam::parse(&h("0004 0011 0f17 0000 | 0001 0009 c0000201 00 000000")),
        Err(Error::BadParameterLength { param_type: 0x0001 })
    );
    // A nested parameter overrunning its enclosing one.
    assert_eq!(
        TransportParam::parse(&h("0004 000c 0f17 0000 | 0001 0008 c0000201")),
        Err(Error::TrailingBytes)
    );
    assert_eq!(
        ServerInfoParam::parse(&h("000b 0014 00000001 | 0004 0010 0f17 0000 | 0001 0008")),
        Err(Error::BadParameterLength { param_type: 0x0004 })
    );
    // ENRP message without room for the server identifiers.
    assert_eq!(
        enrp_err(&h("05 00 0008 | 00000003")),
        Error::BadMessageLength
    );
    assert_eq!(
        enrp_err(&h("07 00 000c | 00000001 | 00000000")),
        Error::BadMessageLength
    );
    assert_eq!(
        enrp_err(&h("04 00 000e | 00000001 | 00000000 | 0000")),
        Error::BadMessageLength
    );
    // KEEP_ALIVE without its server identifier.
    assert_eq!(asap_err(&h("07 00 0004")), Error::BadMessageLength);
}

#[test]
fn malformed_nesting_and_values() {
    // Policy before the user transport.
    assert_eq!(
        asap_err(&h(&format!(
            "01 00 0034 | {ECHO} | 000a 0028 00000001 00000000 00000001 |
               0008 0008 00000001 | 0004 0010 1388 0000 | 0001 0008 0a000001"
        ))),
        Error::MissingParameter { param_type: 0x0004 }
    );
    // PE without policy.
    assert_eq!(
        asap_err(&h(&format!(
            "01 00 002c | {ECHO} | 000a 0020 00000001 00000000 00000001 |
               0004 0010 1388 0000 | 0001 0008 0a000001"
        ))),
        Error::MissingParameter { param_type: 0x0008 }
    );
    // Two policies.
    assert_eq!(
        PoolElementParam::parse(&h(
            "000a 0030 00000001 00000000 00000001 |
               0004 0010 1388 0000 | 0001 0008 0a000001 | 0008 0008 00000001 | 0008 0008 00000001"
        )),
        Err(Error::DuplicateParameter { param_type: 0x0008 })
    );
    // A transport inside a transport.
    assert_eq!(
        TransportParam::parse(&h(
            "0004 0018 0f17 0000 | 0004 0010 0f17 0000 | 0001 0008 c0000201"
        )),
        Err(Error::UnexpectedParameter { param_type: 0x0004 })
    );
    // A cookie in a REGISTRATION.
    assert_eq!(
        asap_err(&h(&format!("01 00 0014 | {ECHO} | 000d 0008 00000000"))),
        Error::UnexpectedParameter { param_type: 0x000d }
    );
    // Zero PE identifiers.
    assert_eq!(
        asap_err(&h(&format!("02 00 0014 | {ECHO} | 000e 0008 00000000"))),
        Error::ZeroIdentifier
    );
    assert_eq!(
        PoolElementParam::parse(&h("000a 0028 00000000 00000000 00000001 |
               0004 0010 1388 0000 | 0001 0008 0a000001 | 0008 0008 00000001")),
        Err(Error::ZeroIdentifier)
    );
    // Zero sending server / keep-alive server.
    assert_eq!(
        enrp_err(&h("05 00 000c | 00000000 | 00000001")),
        Error::ZeroIdentifier
    );
    assert_eq!(
        asap_err(&h(&format!("07 00 0010 | 00000000 | {ECHO}"))),
        Error::ZeroIdentifier
    );
    // Registration life below -1.
    assert_eq!(
        PoolElementParam::parse(&h("000a 0028 00000001 00000000 fffffffe |
               0004 0010 1388 0000 | 0001 0008 0a000001 | 0008 0008 00000001")),
        Err(Error::InvalidRegistrationLife(-2))
    );
    // Transport use 2; UDP's reserved field is ignored.
    assert_eq!(
        TransportParam::parse(&h("0004 0010 0f17 0002 | 0001 0008 c0000201")),
        Err(Error::InvalidTransportUse(2))
    );
    assert_eq!(
        TransportParam::parse(&h("0006 0010 0f17 0001 | 0001 0008 c0000201"))
            .unwrap()
            .transport_use,
        TransportUse::DataOnly
    );
    // Address counts.
    assert_eq!(
        TransportParam::parse(&h("0004 0008 0f17 0000")),
        Err(Error::Transport(TransportError::NoAddress))
    );
    assert_eq!(
        TransportParam::parse(&h(
            "0005 0018 0f17 0000 | 0001 0008 c0000201 | 0001 0008 c0000202"
        )),
        Err(Error::Transport(
            TransportError::TooManyAddressesForProtocol
        ))
    );
    let mut many = h("0004 0000 0f17 0000");
    // 65 addresses: one beyond rsplib's 64.
    for i in 0..65u8 {
        many.extend_from_slice(&[0, 1, 0, 8, 10, 0, 0, i]);
    }
    let len = many.len() as u16;
    many[2..4].copy_from_slice(&len.to_be_bytes());
    assert_eq!(
        TransportParam::parse(&many),
        Err(Error::Transport(TransportError::TooManyAddresses))
    );
    many.truncate(many.len() - 8);
    many[2..4].copy_from_slice(&(len - 8).to_be_bytes());
    assert_eq!(TransportParam::parse(&many).unwrap().addresses.len(), 64);
    // DCCP service code.
    let dccp = h("0003 0014 0021 0000 0000abcd | 0001 0008 c0000201");
    let d = TransportParam::parse(&dccp).unwrap();
    assert_eq!(d.protocol, TransportProtocol::Dccp);
    assert_eq!(d.service_code, 0xabcd);
    // Update action 2.
    assert_eq!(
        enrp_err(&h(&format!(
            "04 00 0040 | 00000001 | 00000000 | 0002 0000 | {ECHO} | {SMALL_PE}"
        ))),
        Error::InvalidUpdateAction(2)
    );
    // Pool handles: empty, 33 bytes.
    assert_eq!(
        asap_err(&h("02 00 0010 | 0009 0004 | 000e 0008 00000001")),
        Error::PoolHandle(IdError::EmptyPoolHandle)
    );
    let mut long = h("02 00 0034 | 0009 0025");
    long.extend_from_slice(&[b'x'; 33]);
    long.extend_from_slice(&h("000000 | 000e 0008 00000001"));
    assert_eq!(
        asap_err(&long),
        Error::PoolHandle(IdError::PoolHandleTooLong { len: 33 })
    );
    // Operation Error without causes.
    assert_eq!(
        asap_err(&h("0e 00 0008 | 000c 0004")),
        Error::EmptyList { param_type: 0x000c }
    );
    // A known policy with the wrong parameter count; an unknown one kept raw.
    assert_eq!(
        PolicyParam::parse(&h("0008 0008 40000001")),
        Err(Error::Policy(PolicyError::WrongParameterCount {
            policy_type: 0x4000_0001,
            expected: 1,
            found: 0
        }))
    );
    assert_eq!(
        PolicyParam::parse(&h("0008 000b 40000002 000001 00")),
        Err(Error::BadParameterLength { param_type: 0x0008 })
    );
    assert_eq!(
        PolicyParam::parse(&h("0008 000b a0000001 112233 00")),
        Ok(PolicyParam::Unknown {
            policy_type: 0xa000_0001,
            data: &[0x11, 0x22, 0x33]
        })
    );
    // HANDLE_TABLE_RESPONSE: PE before any pool handle; handle without PE.
    assert_eq!(
        enrp_err(&h(&format!(
            "03 00 0034 | 00000001 | 00000000 | {SMALL_PE}"
        ))),
        Error::MissingParameter { param_type: 0x0009 }
    );
    assert_eq!(
        enrp_err(&h(&format!(
            "03 00 0044 | 00000001 | 00000000 | {ECHO} | {ECHO} | {SMALL_PE}"
        ))),
        Error::MissingParameter { param_type: 0x000a }
    );
    assert_eq!(
        enrp_err(&h(&format!(
            "03 00 0044 | 00000001 | 00000000 | {ECHO} | {SMALL_PE} | {ECHO}"
        ))),
        Error::MissingParameter { param_type: 0x000a }
    );
}

#[test]
fn missing_and_duplicate_parameters() {
    assert_eq!(
        asap_err(&h(&format!("01 00 000c | {ECHO}"))),
        Error::MissingParameter { param_type: 0x000a }
    );
    assert_eq!(
        asap_err(&h("02 00 000c | 000e 0008 00000001")),
        Error::MissingParameter { param_type: 0x0009 }
    );
    assert_eq!(
        asap_err(&h(&format!("02 00 000c | {ECHO}"))),
        Error::MissingParameter { param_type: 0x000e }
    );
    assert_eq!(
        asap_err(&h("0b 00 0004")),
        Error::MissingParameter { param_type: 0x000d }
    );
    assert_eq!(
        asap_err(&h("0e 00 0004")),
        Error::MissingParameter { param_type: 0x000c }
    );
    assert_eq!(
        enrp_err(&h("0a 00 000c | 00000001 | 00000000")),
        Error::MissingParameter { param_type: 0x000c }
    );
    assert_eq!(
        asap_err(&h(&format!("05 00 0014 | {ECHO} | {ECHO}"))),
        Error::DuplicateParameter { param_type: 0x0009 }
    );
    assert_eq!(
        enrp_err(&h(
            "01 00 001c | 00000001 | 00000000 | 000f 0006 f8a4 0000 | 000f 0006 f8a4 0000"
        )),
        Error::DuplicateParameter { param_type: 0x000f }
    );
    assert_eq!(
        ServerInfoParam::parse(&h("000b 0008 00000001")),
        Err(Error::MissingParameter { param_type: 0x0004 })
    );
}

#[test]
fn views() {
    let b = registration();
    let hd = MessageHeader::new_checked(&b[..]).unwrap();
    assert_eq!(hd.message_type(), 1);
    assert_eq!(hd.flags(), 0);
    assert_eq!(hd.length(), 0x50);
    assert_eq!(hd.value().len(), 0x4c);
    let t = Tlv::new_checked(hd.value()).unwrap();
    assert_eq!(t.param_type(), 9);
    assert_eq!(t.length(), 12);
    assert_eq!(t.value(), b"EchoPool");
    assert_eq!(t.action(), ParamAction::Stop);
    assert_eq!(
        MessageHeader::new_checked(&b[..10]).unwrap_err(),
        Error::Truncated
    );
    // Unchecked views on short buffers read zeros instead of panicking.
    let short = MessageHeader::new_unchecked(&b[..1]);
    assert_eq!(
        (short.message_type(), short.flags(), short.length()),
        (1, 0, 0)
    );
    assert_eq!(Tlv::new_unchecked(&b[..3]).value(), &[] as &[u8]);
    let mut buf = [0u8; 8];
    let mut w = MessageHeader::new_unchecked(&mut buf[..]);
    w.set_message_type(5);
    w.set_flags(1);
    w.set_length(8);
    assert_eq!(buf, [5, 1, 0, 8, 0, 0, 0, 0]);
    let mut t = Tlv::new_unchecked(&mut buf[4..]);
    t.set_param_type(0x803f);
    t.set_length(4);
    assert_eq!(buf, [5, 1, 0, 8, 0x80, 0x3f, 0, 4]);
    assert_eq!(
        Message::parse(Protocol::Asap, &b).unwrap().protocol(),
        Protocol::Asap
    );
    assert_eq!(Protocol::from_ppid(12), Some(Protocol::Enrp));
}

/// Every policy of SPEC §12.2 with its wire layout (type, then u32
/// parameters; lengths 0x08-0x18), in a Pool Member Selection Policy TLV.
#[test]
fn every_policy_layout() {
    let table: [(&str, Policy); 18] = [
        ("0008 0008 00000001", Policy::RoundRobin),
        (
            "0008 000c 00000002 00000011",
            Policy::WeightedRoundRobin { weight: 0x11 },
        ),
        ("0008 0008 00000003", Policy::Random),
        (
            "0008 000c 00000004 00000011",
            Policy::WeightedRandom { weight: 0x11 },
        ),
        (
            "0008 000c 00000005 00000011",
            Policy::Priority { priority: 0x11 },
        ),
        (
            "0008 000c 40000001 00000011",
            Policy::LeastUsed { load: 0x11 },
        ),
        (
            "0008 0010 40000002 00000011 00000022",
            Policy::LeastUsedDegradation {
                load: 0x11,
                degradation: 0x22,
            },
        ),
        (
            "0008 0010 40000003 00000011 00000022",
            Policy::PriorityLeastUsed {
                load: 0x11,
                degradation: 0x22,
            },
        ),
        (
            "0008 000c 40000004 00000011",
            Policy::RandomizedLeastUsed { load: 0x11 },
        ),
        (
            "0008 0010 b0001001 00000011 00000022",
            Policy::RandomizedPriorityLeastUsed {
                load: 0x11,
                degradation: 0x22,
            },
        ),
        (
            "0008 0010 b0001002 00000011 00000022",
            Policy::RandomizedLeastUsedDegradation {
                load: 0x11,
                degradation: 0x22,
            },
        ),
        (
            "0008 0010 b0001003 00000011 00000022",
            Policy::PriorityLeastUsedDegradation {
                load: 0x11,
                degradation: 0x22,
            },
        ),
        (
            "0008 0010 b0001004 00000011 00000022",
            Policy::RandomizedPriorityLeastUsedDegradation {
                load: 0x11,
                degradation: 0x22,
            },
        ),
        (
            "0008 0014 b0002001 00000011 00000022 00000033",
            Policy::WeightedRandomDpf {
                weight: 0x11,
                weight_dpf: 0x22,
                distance: 0x33,
            },
        ),
        (
            "0008 0014 b0002002 00000011 00000022 00000033",
            Policy::LeastUsedDpf {
                load: 0x11,
                load_dpf: 0x22,
                distance: 0x33,
            },
        ),
        (
            "0008 0018 b0002003 00000011 00000022 00000033 00000044",
            Policy::LeastUsedDegradationDpf {
                load: 0x11,
                degradation: 0x22,
                load_dpf: 0x33,
                distance: 0x44,
            },
        ),
        (
            "0008 0018 b0002004 00000011 00000022 00000033 00000044",
            Policy::PriorityLeastUsedDpf {
                load: 0x11,
                degradation: 0x22,
                load_dpf: 0x33,
                distance: 0x44,
            },
        ),
        (
            "0008 0018 b0002005 00000011 00000022 00000033 00000044",
            Policy::PriorityLeastUsedDegradationDpf {
                load: 0x11,
                degradation: 0x22,
                load_dpf: 0x33,
                distance: 0x44,
            },
        ),
    ];
    for (hex, policy) in table {
        let tlv = h(hex);
        assert_eq!(
            PolicyParam::parse(&tlv),
            Ok(PolicyParam::Known(policy)),
            "{hex}"
        );
        let p = PolicyParam::Known(policy);
        assert_eq!(p.buffer_len(), tlv.len());
        let mut out = vec![0u8; tlv.len()];
        assert_eq!(p.emit(&mut out), Ok(tlv.len()));
        assert_eq!(out, tlv);
        // Inside a REGISTRATION as the PE's policy.
        let msg = h(&format!(
            "01 00 {:04x} | {ECHO} | 000a {:04x} 00000001 00000000 ffffffff |
               0004 0010 1388 0000 | 0001 0008 0a000001 | {hex}",
            4 + 8 + 32 + tlv.len(),
            32 + tlv.len()
        ));
        let AsapMessage::Registration { pool_element, .. } = asap(&msg) else {
            panic!()
        };
        assert_eq!(pool_element.policy, p);
        assert_eq!(pool_element.policy.policy(), Some(policy));
    }
}

#[test]
fn builder_writes_the_golden_bytes() {
    // The HANDLE_TABLE_RESPONSE golden message, appended item by item.
    let golden = handle_table_response();
    let m = enrp(&golden);
    let EnrpBody::HandleTableResponse { entries, .. } = m.body else {
        panic!()
    };
    let mut buf = [0u8; 512];
    let mut b = MessageBuilder::enrp(
        &mut buf,
        enrp_type::HANDLE_TABLE_RESPONSE,
        enrp_flags::MORE_TO_SEND,
        sid(2),
        Some(sid(1)),
    )
    .unwrap();
    assert!(b.is_empty());
    for e in entries.iter() {
        b.pool_handle(e.pool_handle).unwrap();
        for p in e.elements.iter() {
            b.pool_element(&p).unwrap();
        }
    }
    let n = b.finish().unwrap();
    assert_eq!(&buf[..n], &golden[..]);

    // KEEP_ALIVE with its fixed field, and a PRESENCE.
    let mut buf = [0u8; 64];
    let mut b =
        MessageBuilder::asap(&mut buf, asap_type::ENDPOINT_KEEP_ALIVE, asap_flags::HOME).unwrap();
    b.fixed_u32(0xabcd).unwrap();
    b.pool_handle(b"Echo").unwrap();
    b.pe_id(pe(0x12345678)).unwrap();
    let n = b.finish().unwrap();
    assert_eq!(&buf[..n], &keep_alive()[..]);

    let golden = presence();
    let EnrpBody::Presence {
        server_info: Some(info),
        ..
    } = enrp(&golden).body
    else {
        panic!()
    };
    let mut buf = [0u8; 64];
    let mut b = MessageBuilder::enrp(
        &mut buf,
        enrp_type::PRESENCE,
        enrp_flags::REPLY_REQUIRED,
        sid(1),
        None,
    )
    .unwrap();
    b.pe_checksum(0xf8a4).unwrap();
    b.server_info(&info).unwrap();
    let n = b.finish().unwrap();
    assert_eq!(&buf[..n], &golden[..]);
}

#[test]
fn builder_fills_as_many_as_fit() {
    let pe_bytes = h(SMALL_PE);
    let element = PoolElementParam::parse(&pe_bytes).unwrap();
    // Room for the header, ids, a handle and 2 PEs (12 + 8 + 2 * 40 = 100).
    let mut buf = [0u8; 110];
    let mut b = MessageBuilder::enrp(
        &mut buf,
        enrp_type::HANDLE_TABLE_RESPONSE,
        0,
        sid(2),
        Some(sid(1)),
    )
    .unwrap();
    b.pool_handle(b"Echo").unwrap();
    let mut sent = 0;
    loop {
        match b.pool_element(&element) {
            Ok(()) => sent += 1,
            Err(Error::BufferTooSmall { needed }) => {
                assert_eq!(needed, 140);
                b.set_flags(enrp_flags::MORE_TO_SEND);
                break;
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    assert_eq!(sent, 2);
    assert_eq!(b.len(), 100);
    let n = b.finish().unwrap();
    let m = enrp(&buf[..n]);
    let EnrpBody::HandleTableResponse {
        more_to_send,
        entries,
        ..
    } = m.body
    else {
        panic!()
    };
    assert!(more_to_send);
    assert_eq!(entries.first().unwrap().elements.len(), 2);
    // Too small even for the header.
    assert_eq!(
        MessageBuilder::asap(&mut [0u8; 3], asap_type::COOKIE, 0).err(),
        Some(Error::BufferTooSmall { needed: 4 })
    );
    // Invalid parameters are refused without being written.
    let mut buf = [0u8; 16];
    let mut b = MessageBuilder::asap(&mut buf, asap_type::COOKIE, 0).unwrap();
    assert_eq!(
        b.pool_handle(b""),
        Err(Error::PoolHandle(IdError::EmptyPoolHandle))
    );
    b.cookie(b"hello").unwrap();
    let n = b.finish().unwrap();
    assert_eq!(&buf[..n], &cookie()[..]);
}

#[test]
fn offending_parameter_for_invalid_values() {
    // A REGISTRATION whose PE has a zero PE identifier: the whole PE TLV.
    let b = h(&format!(
        "01 00 0034 | {ECHO} | 000a 0028 00000000 00000000 00000001 |
           0004 0010 1388 0000 | 0001 0008 0a000001 | 0008 0008 00000001"
    ));
    assert_eq!(asap_err(&b), Error::ZeroIdentifier);
    assert_eq!(offending_parameter(Protocol::Asap, &b), Some(&b[12..52]));
    // A PE Identifier parameter of 3 bytes.
    let b = h(&format!("02 00 0014 | {ECHO} | 000e 0007 123456 00"));
    assert_eq!(offending_parameter(Protocol::Asap, &b), Some(&b[12..19]));
    // An empty pool handle.
    let b = h("02 00 0010 | 0009 0004 | 000e 0008 00000001");
    assert_eq!(offending_parameter(Protocol::Asap, &b), Some(&b[4..8]));
    // A PRESENCE whose server information (the sender's own) has a zero
    // server identifier (ENRP, after the ids). In a LIST_RESPONSE such an
    // entry is valid and skipped (see `list_response_with_server_id_0`).
    let b = h("01 00 0024 | 00000001 | 00000003 |
               000b 0018 00000000 | 0004 0010 26ad 0000 | 0001 0008 7f000001");
    assert_eq!(enrp_err(&b), Error::ZeroIdentifier);
    assert_eq!(offending_parameter(Protocol::Enrp, &b), Some(&b[12..36]));
    // A malformed length: the rest of the message.
    let b = h("02 00 0014 | 0009 0005 50 000000 | 000e 0002 12345678");
    assert_eq!(offending_parameter(Protocol::Asap, &b), Some(&b[12..20]));
    // Unknown with a stop action.
    let b = h("02 00 001c | 0009 0005 50 000000 | 4123 0006 abcd 0000 | 000e 0008 12345678");
    assert_eq!(offending_parameter(Protocol::Asap, &b), Some(&b[12..18]));
    // Every parameter valid on its own: none.
    assert_eq!(
        offending_parameter(Protocol::Asap, &h(&format!("02 00 000c | {ECHO}"))),
        None
    );
    assert_eq!(offending_parameter(Protocol::Asap, &registration()), None);
    for (_, b) in enrp_golden() {
        assert_eq!(offending_parameter(Protocol::Enrp, &b), None);
    }
}

#[test]
fn causes_for_what_must_be_reported() {
    // Unknown message type 0x7F: upper bits 01, discard and report.
    let unknown = [0x7F, 0x00, 0x00, 0x04];
    let err = AsapMessage::parse(&unknown).unwrap_err();
    let cause = ErrorCause::reporting(&err, &unknown).unwrap();
    assert_eq!(cause.code, CauseCode::UnrecognizedMessage);
    assert_eq!(cause.data, CauseData::Bytes(&unknown));
    // Upper bits 00: discard silently.
    let silent = [0x3F, 0x00, 0x00, 0x04];
    let err = AsapMessage::parse(&silent).unwrap_err();
    assert_eq!(ErrorCause::reporting(&err, &silent), None);
    // A COOKIE with a skip-and-report (0xC123) and a skip-only (0x8123) parameter.
    let cookie = [
        0x0B, 0x00, 0x00, 0x1C, // ASAP_COOKIE, length 28
        0x00, 0x0D, 0x00, 0x06, b'a', b'b', 0x00, 0x00, // Cookie "ab"
        0xC1, 0x23, 0x00, 0x05, 0xAA, 0x00, 0x00, 0x00, // unknown, skip and report
        0x81, 0x23, 0x00, 0x05, 0xBB, 0x00, 0x00, 0x00, // unknown, skip
    ];
    assert_eq!(
        AsapMessage::parse(&cookie).unwrap(),
        AsapMessage::Cookie { cookie: b"ab" }
    );
    let mut out = [ErrorCause::new(CauseCode::Unspecified); 4];
    assert_eq!(
        ErrorCause::skipped_reports(Protocol::Asap, &cookie, &mut out),
        1
    );
    assert_eq!(out[0].code, CauseCode::UnrecognizedParameter);
    assert_eq!(
        out[0].data,
        CauseData::Bytes(&[0xC1, 0x23, 0x00, 0x05, 0xAA])
    );
    // No room: nothing written, nothing counted.
    assert_eq!(
        ErrorCause::skipped_reports(Protocol::Asap, &cookie, &mut []),
        0
    );
}

/// rsplib lists a configured peer it has not heard from yet with server id
/// 0: the LIST_RESPONSE parses, and the entry is skipped.
#[test]
fn list_response_with_server_id_0() {
    // Sender 0x10, receiver 0x20; peer 0 at 10.0.0.7:9901, peer 0x30 at
    // 10.0.0.8:9901 (SCTP transport, IPv4 address).
    let b = h("06 00 003c | 00000010 | 00000020 |
               000b 0018 00000000 | 0004 0010 26ad 0000 | 0001 0008 0a000007 |
               000b 0018 00000030 | 0004 0010 26ad 0000 | 0001 0008 0a000008");
    let m = enrp(&b);
    let EnrpBody::ListResponse { rejected, servers } = m.body else {
        panic!("{m:?}");
    };
    assert!(!rejected);
    assert_eq!(servers.len(), 1);
    let s: Vec<_> = servers.iter().collect();
    assert_eq!(s.len(), 1);
    assert_eq!(s[0].server_id.get(), 0x30);
    assert_eq!(s[0].transport.port, 9901);
    assert_eq!(
        s[0].transport.addresses.first(),
        Some("10.0.0.8".parse().unwrap())
    );
    assert_eq!(offending_parameter(Protocol::Enrp, &b), None);
    // Only id-0 entries: an empty list, still no error.
    let b = h("06 00 0024 | 00000010 | 00000020 |
               000b 0018 00000000 | 0004 0010 26ad 0000 | 0001 0008 0a000007");
    let m = enrp(&b);
    assert!(matches!(m.body, EnrpBody::ListResponse { servers, .. } if servers.is_empty()));
    // A malformed entry still fails the message.
    let b = h("06 00 0014 | 00000010 | 00000020 | 000b 0008 00000000");
    assert!(EnrpMessage::parse(&b).is_err());
}
