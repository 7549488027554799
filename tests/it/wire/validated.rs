//! Lists are validated once when the message is parsed and read without
//! being checked again: what a list yields is what the parse accepted,
//! including around TLVs of unknown types the parse skipped, and a message
//! the parse refuses never yields anything.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::policy::Policy;
use rserpool::wire::*;
use rserpool::{PeId, ServerId};

/// A TLV with its padding.
fn tlv(ty: u16, value: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&ty.to_be_bytes());
    b.extend_from_slice(&(4 + value.len() as u16).to_be_bytes());
    b.extend_from_slice(value);
    while b.len() % 4 != 0 {
        b.push(0);
    }
    b
}

/// A TLV of an unknown type whose action is "skip" (upper bits 10).
fn skipped() -> Vec<u8> {
    tlv(0x8123, &[0xAA, 0xBB, 0xCC])
}

fn v4(a: [u8; 4]) -> Vec<u8> {
    tlv(param_type::IPV4_ADDRESS, &a)
}

fn v6(a: [u8; 16]) -> Vec<u8> {
    tlv(param_type::IPV6_ADDRESS, &a)
}

fn transport(ty: u16, port: u16, second: u16, extra: &[u8], nested: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&port.to_be_bytes());
    v.extend_from_slice(&second.to_be_bytes());
    v.extend_from_slice(extra);
    for n in nested {
        v.extend_from_slice(n);
    }
    tlv(ty, &v)
}

fn policy(ty: u32, params: &[u32]) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    for p in params {
        v.extend_from_slice(&p.to_be_bytes());
    }
    tlv(param_type::POLICY, &v)
}

fn element(pe_id: u32, home: u32, life: i32, nested: &[Vec<u8>]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&pe_id.to_be_bytes());
    v.extend_from_slice(&home.to_be_bytes());
    v.extend_from_slice(&life.to_be_bytes());
    for n in nested {
        v.extend_from_slice(n);
    }
    tlv(param_type::POOL_ELEMENT, &v)
}

fn message(ty: u8, params: &[Vec<u8>]) -> Vec<u8> {
    let mut b = vec![ty, 0, 0, 0];
    for p in params {
        b.extend_from_slice(p);
    }
    let len = b.len() as u16;
    b[2..4].copy_from_slice(&len.to_be_bytes());
    b
}

const A1: [u8; 4] = [10, 0, 0, 1];
const A2: [u8; 16] = [0x20, 1, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
const A3: [u8; 4] = [192, 0, 2, 7];

/// Three PEs: an SCTP one with unknown TLVs between its addresses and its
/// parameters, a TCP one (data plus control) with an SCTP ASAP transport,
/// a DCCP one with its service code and an unknown policy; unknown TLVs
/// between the PEs too.
fn resolution_response() -> Vec<u8> {
    let sctp = transport(
        param_type::SCTP_TRANSPORT,
        7000,
        0,
        &[],
        &[v4(A1), skipped(), v6(A2), skipped()],
    );
    let asap = transport(param_type::SCTP_TRANSPORT, 3863, 1, &[], &[v4(A3)]);
    let tcp = transport(param_type::TCP_TRANSPORT, 80, 1, &[], &[skipped(), v6(A2)]);
    let dccp = transport(
        param_type::DCCP_TRANSPORT,
        5004,
        0,
        &0x0102_0304u32.to_be_bytes(),
        &[v4(A3)],
    );
    message(
        0x06,
        &[
            tlv(param_type::POOL_HANDLE, b"pool"),
            element(
                0x11,
                0x5EED_0001,
                30_000,
                &[
                    skipped(),
                    sctp,
                    skipped(),
                    policy(0x0000_0001, &[]),
                    asap.clone(),
                ],
            ),
            skipped(),
            element(
                0x22,
                0,
                -1,
                &[tcp, policy(0x4000_0001, &[7]), skipped(), asap],
            ),
            element(0x33, 0, 5, &[dccp, policy(0xA000_0001, &[1, 2]), skipped()]),
            skipped(),
        ],
    )
}

fn addresses(t: &TransportParam<'_>) -> Vec<IpAddr> {
    t.addresses.iter().collect()
}

#[test]
fn listed_elements_read_what_the_parse_accepted() {
    let bytes = resolution_response();
    let AsapMessage::HandleResolutionResponse {
        pool_handle,
        elements,
        ..
    } = AsapMessage::parse(&bytes).expect("valid")
    else {
        panic!("not a HANDLE_RESOLUTION_RESPONSE")
    };
    assert_eq!(pool_handle, b"pool");
    assert_eq!(elements.len(), 3);
    assert_eq!(elements.iter().len(), 3);
    let pes: Vec<PoolElementParam<'_>> = elements.iter().collect();
    assert_eq!(pes.len(), 3);

    let a1 = IpAddr::V4(Ipv4Addr::from(A1));
    let a2 = IpAddr::V6(Ipv6Addr::from(A2));
    let a3 = IpAddr::V4(Ipv4Addr::from(A3));

    let p = &pes[0];
    assert_eq!(p.pe_id, PeId::new(0x11).unwrap());
    assert_eq!(p.home_server, ServerId::new(0x5EED_0001).ok());
    assert_eq!(p.registration_life, 30_000);
    let UserTransport::Transport(u) = p.user_transport else {
        panic!("opaque")
    };
    assert_eq!(u.protocol, TransportProtocol::Sctp);
    assert_eq!(u.port, 7000);
    assert_eq!(u.transport_use, TransportUse::DataOnly);
    assert_eq!(u.addresses.len(), 2);
    assert_eq!(addresses(&u), vec![a1, a2]);
    assert_eq!(p.policy, PolicyParam::Known(Policy::RoundRobin));
    let asap = p.asap_transport.expect("asap transport");
    assert_eq!(
        (asap.port, asap.transport_use),
        (3863, TransportUse::DataAndControl)
    );
    assert_eq!(addresses(&asap), vec![a3]);

    let p = &pes[1];
    assert_eq!(p.pe_id, PeId::new(0x22).unwrap());
    assert_eq!(p.home_server, None);
    assert!(p.is_infinite());
    let u = p.user_transport.transport().expect("transport");
    assert_eq!(u.protocol, TransportProtocol::Tcp);
    assert_eq!(u.transport_use, TransportUse::DataAndControl);
    assert_eq!(u.addresses.len(), 1);
    assert_eq!(addresses(u), vec![a2]);
    assert_eq!(p.policy, PolicyParam::Known(Policy::LeastUsed { load: 7 }));
    assert_eq!(addresses(&p.asap_transport.expect("asap")), vec![a3]);

    let p = &pes[2];
    let u = p.user_transport.transport().expect("transport");
    assert_eq!(u.protocol, TransportProtocol::Dccp);
    assert_eq!((u.port, u.service_code), (5004, 0x0102_0304));
    assert_eq!(addresses(u), vec![a3]);
    assert_eq!(
        p.policy,
        PolicyParam::Unknown {
            policy_type: 0xA000_0001,
            data: &[0, 0, 0, 1, 0, 0, 0, 2]
        }
    );
    assert_eq!(p.asap_transport, None);

    // Each listed PE reads as the same TLV parsed on its own.
    let mut at = 4;
    let mut alone = Vec::new();
    while at < bytes.len() {
        let len = usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]));
        let ty = u16::from_be_bytes([bytes[at], bytes[at + 1]]);
        if ty == param_type::POOL_ELEMENT {
            alone.push(PoolElementParam::parse(&bytes[at..at + len]).expect("parses alone"));
        }
        at += (len + 3) & !3;
    }
    assert_eq!(alone, pes);
}

#[test]
fn a_registration_reads_each_transport_as_validated() {
    let sctp = transport(
        param_type::SCTP_TRANSPORT,
        7000,
        1,
        &[],
        &[skipped(), v6(A2), v4(A1), skipped()],
    );
    let bytes = message(
        0x01,
        &[
            skipped(),
            element(0x44, 0, 1000, &[sctp, skipped(), policy(0x0000_0001, &[])]),
            tlv(param_type::POOL_HANDLE, b"p"),
        ],
    );
    let AsapMessage::Registration {
        pool_handle,
        pool_element,
    } = AsapMessage::parse(&bytes).expect("valid")
    else {
        panic!("not a REGISTRATION")
    };
    assert_eq!(pool_handle, b"p");
    let u = pool_element.user_transport.transport().expect("transport");
    assert_eq!(u.addresses.len(), 2);
    assert_eq!(u.addresses.iter().len(), 2);
    assert_eq!(
        addresses(u),
        vec![
            IpAddr::V6(Ipv6Addr::from(A2)),
            IpAddr::V4(Ipv4Addr::from(A1))
        ]
    );
    assert_eq!(u.addresses.first(), Some(IpAddr::V6(Ipv6Addr::from(A2))));
}

/// Every single-bit flip of the message: the parse refuses it with a typed
/// error or accepts it, and then every list yields exactly as many items as
/// it says, each PE's transports as many addresses as they say, and each PE
/// reads as its TLV parsed alone.
#[test]
fn flipped_bits_are_refused_or_read_consistently() {
    let good = resolution_response();
    let mut accepted = 0;
    for i in 0..good.len() {
        for bit in 0..8 {
            let mut bytes = good.clone();
            bytes[i] ^= 1 << bit;
            let Ok(m) = AsapMessage::parse(&bytes) else {
                continue;
            };
            accepted += 1;
            let AsapMessage::HandleResolutionResponse { elements, .. } = m else {
                continue;
            };
            let pes: Vec<_> = elements.iter().collect();
            assert_eq!(pes.len(), elements.len(), "byte {i} bit {bit}");
            for p in &pes {
                let transports = [p.user_transport.transport().copied(), p.asap_transport];
                for t in transports.iter().flatten() {
                    assert_eq!(t.addresses.iter().count(), t.addresses.len());
                    assert!(!t.addresses.is_empty());
                }
            }
        }
    }
    // Flips of padding, ports, identifiers and address bytes still parse.
    assert!(accepted > 100, "{accepted}");
}
