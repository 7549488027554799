//! Unit tests of the framing internals; message-level tests are in
//! `tests/it/wire/golden.rs` and `tests/it/wire/roundtrip.rs`.

use core::net::{IpAddr, Ipv4Addr};

use super::field::{Tlvs, Writer};
use super::*;

#[test]
fn padding() {
    assert_eq!(
        [0, 1, 2, 3, 4, 5, 8, 9].map(padded),
        [0, 4, 4, 4, 4, 8, 8, 12]
    );
    assert_eq!(padded(usize::MAX), usize::MAX & !3);
}

#[test]
fn upper_bit_actions() {
    assert_eq!(ParamAction::of(0x0011), ParamAction::Stop);
    assert_eq!(ParamAction::of(0x7fff), ParamAction::StopAndReport);
    assert_eq!(ParamAction::of(0x803f), ParamAction::Skip);
    assert_eq!(ParamAction::of(0xffff), ParamAction::SkipAndReport);
    assert_eq!(MessageAction::of(0x3f), MessageAction::Discard);
    assert_eq!(MessageAction::of(0x40), MessageAction::DiscardAndReport);
    assert_eq!(MessageAction::of(0x7f), MessageAction::DiscardAndReport);
    assert_eq!(MessageAction::of(0x80), MessageAction::Discard);
    assert!(param_type::is_known(0x0010) && param_type::is_known(0x803f));
    assert!(!param_type::is_known(0x0000) && !param_type::is_known(0x0011));
}

#[test]
fn writer_counts_past_the_buffer() {
    let mut buf = [0xaau8; 6];
    let mut w = Writer::new(&mut buf);
    let s = w.begin(0x000d);
    w.bytes(b"abc");
    w.end(s);
    assert_eq!(w.pos(), 8);
    assert_eq!(w.finish(), Err(Error::BufferTooSmall { needed: 8 }));
    // Writes that fit entirely were done, the one that did not fit was dropped.
    assert_eq!(buf, [0x00, 0x0d, 0x00, 0x07, 0xaa, 0xaa]);

    let mut buf = [0xaau8; 8];
    let mut w = Writer::new(&mut buf);
    let s = w.begin(0x000d);
    w.bytes(b"abc");
    w.end(s);
    assert_eq!(w.finish(), Ok(8));
    assert_eq!(buf, [0x00, 0x0d, 0x00, 0x07, b'a', b'b', b'c', 0]);
}

#[test]
fn writer_refuses_lengths_over_u16() {
    let mut w = Writer::new(&mut []);
    let s = w.begin(0x000d);
    for _ in 0..0x1_0000 / 4 {
        w.u32(0);
    }
    w.end(s);
    assert_eq!(w.finish(), Err(Error::TooLong));
}

#[test]
fn tlvs_accept_both_padding_conventions() {
    // Two TLVs, the last one of 5 bytes: region of 13 (RFC) or 16 (rsplib).
    let bytes = [0, 9, 0, 8, 1, 2, 3, 4, 0, 9, 0, 5, 7, 0, 0, 0];
    for end in [13, 16] {
        let got: heapless::Vec<(u16, usize, usize), 4> = Tlvs::new(&bytes[..end], 100)
            .map(|t| t.map(|t| (t.ty, t.value.len(), t.offset)))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, [(9, 4, 100), (9, 1, 108)]);
    }
    // 14 and 15 bytes: padding cut short, still accepted.
    assert_eq!(Tlvs::new(&bytes[..14], 0).count(), 2);
    // 12: the second TLV overruns.
    let mut t = Tlvs::new(&bytes[..12], 0);
    assert!(t.next().unwrap().is_ok());
    assert_eq!(
        t.next().unwrap().unwrap_err(),
        Error::BadParameterLength { param_type: 9 }
    );
    assert!(t.next().is_none());
}

#[test]
fn lists_compare_by_items() {
    let addrs = [
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
    ];
    let wire = [
        0, 1, 0, 8, 10, 0, 0, 1, 0x80, 0x55, 0, 4, 0, 1, 0, 8, 10, 0, 0, 2,
    ];
    let parsed: List<'_, IpAddr> = List::from_wire(&wire, 2);
    assert_eq!(parsed, List::from_slice(&addrs));
    assert_ne!(parsed, List::from_slice(&addrs[..1]));
    assert_eq!(parsed.iter().len(), 2);
    assert_eq!(parsed.wire_bytes(), Some(&wire[..]));
    assert_eq!(List::<IpAddr>::from_slice(&addrs).wire_bytes(), None);
    assert!(List::<IpAddr>::empty().is_empty());
}

#[test]
fn offending_bytes_are_clamped() {
    let msg = [0x4f, 0, 0, 0x40, 1, 2, 3, 4];
    let e = Error::UnrecognizedMessage {
        message_type: 0x4f,
        action: MessageAction::DiscardAndReport,
    };
    assert_eq!(e.offending_bytes(&msg), Some(&msg[..]));
    assert_eq!(e.offending_bytes(&msg[..2]), None);
    let e = Error::UnrecognizedParameter {
        param_type: 1,
        action: ParamAction::Stop,
        offset: 4,
        len: 8,
    };
    assert_eq!(e.offending_bytes(&msg), None);
    assert_eq!(Error::Truncated.offending_bytes(&msg), None);
}

#[cfg(feature = "std")]
#[test]
fn errors_display() {
    use std::string::ToString;
    assert_eq!(
        Error::MissingParameter { param_type: 9 }.to_string(),
        "missing parameter 0x0009"
    );
    assert_eq!(
        Error::BufferTooSmall { needed: 12 }.to_string(),
        "buffer too small, 12 bytes needed"
    );
}

/// Reprs are covariant in their lifetime, so a parsed message (borrowing the
/// input) and a built one (borrowing the caller's data) can be compared and
/// passed around together.
#[test]
fn reprs_are_covariant() {
    fn shorten_asap<'s, 'l: 's>(m: AsapMessage<'l>) -> AsapMessage<'s> {
        m
    }
    fn shorten_enrp<'s, 'l: 's>(m: EnrpMessage<'l>) -> EnrpMessage<'s> {
        m
    }
    fn shorten_list<'s, 'l: 's>(l: List<'l, PoolEntry<'l>>) -> List<'s, PoolEntry<'s>> {
        l
    }
    let m = AsapMessage::Cookie { cookie: b"x" };
    assert_eq!(shorten_asap(m), m);
    let e = EnrpMessage {
        sender: crate::ServerId::new(1).unwrap(),
        receiver: None,
        body: EnrpBody::ListRequest,
    };
    assert_eq!(shorten_enrp(e), e);
    assert!(shorten_list(List::empty()).is_empty());
}

#[test]
fn transport_to_address() {
    use crate::addr::{TransportProtocol, TransportUse, MAX_TRANSPORT_ADDRESSES};
    let wire = [
        0, 4, 0, 24, 0x0f, 0x17, 0, 1, 0, 1, 0, 8, 10, 0, 0, 1, 0, 1, 0, 8, 10, 0, 0, 2,
    ];
    let t = TransportParam::parse(&wire).unwrap();
    let mut out = [IpAddr::V4(Ipv4Addr::UNSPECIFIED); MAX_TRANSPORT_ADDRESSES];
    let a = t.to_address(&mut out);
    assert_eq!(a.protocol, TransportProtocol::Sctp);
    assert_eq!(a.port, 3863);
    assert_eq!(a.transport_use, TransportUse::DataAndControl);
    assert_eq!(
        a.addresses,
        [
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))
        ]
    );
    assert_eq!(a.validate(), Ok(()));
    assert_eq!(TransportParam::from(a), t);
}

#[test]
fn finds_top_level_parameters() {
    // Header, pool handle "ab" (padded), PE identifier.
    let m = [
        1, 0, 0, 20, 0, 9, 0, 6, b'a', b'b', 0, 0, 0, 0x0e, 0, 8, 0, 0, 0, 5,
    ];
    let find = |m: &[u8], ty| find_parameter(Protocol::Asap, m, ty).map(<[u8]>::to_vec);
    assert_eq!(find(&m, ParamType::PoolHandle), Some(m[4..10].to_vec()));
    assert_eq!(find(&m, ParamType::PeIdentifier), Some(m[12..20].to_vec()));
    assert_eq!(find(&m, ParamType::PoolElement), None);
    // A length running past the message stops the search.
    let mut bad = m;
    bad[7] = 40;
    assert_eq!(find(&bad, ParamType::PeIdentifier), None);
    assert_eq!(find(&[], ParamType::from(9)), None);
    // ENRP: after the server identifiers and a HANDLE_UPDATE's action.
    let mut u = [0u8; 24];
    u[..4].copy_from_slice(&[enrp_type::HANDLE_UPDATE, 0, 0, 24]);
    u[16..24].copy_from_slice(&[0, 9, 0, 6, b'a', b'b', 0, 0]);
    assert_eq!(
        find_parameter(Protocol::Enrp, &u, ParamType::PoolHandle),
        Some(&u[16..22])
    );
    assert_eq!(
        find_parameter(Protocol::Asap, &u, ParamType::PoolHandle),
        None
    );
    // The PE id of a Pool Element TLV and the sender of an ENRP message.
    assert_eq!(
        PoolElementParam::pe_id_of(&[0, 0x0a, 0, 8, 0, 0, 0, 5]),
        crate::PeId::new(5).ok()
    );
    assert_eq!(PoolElementParam::pe_id_of(&[0, 0x0a, 0, 7, 0, 0, 5]), None);
    u[4..8].copy_from_slice(&7u32.to_be_bytes());
    assert_eq!(EnrpMessage::sender_of(&u), crate::ServerId::new(7).ok());
    assert_eq!(EnrpMessage::sender_of(&u[..7]), None);
}

#[test]
fn builder_pads_parameters_and_checks_lengths() {
    let mut buf = [0xAAu8; 16];
    let mut b = MessageBuilder::asap(&mut buf, asap_type::HANDLE_RESOLUTION_RESPONSE, 0).unwrap();
    b.pool_handle(b"abcde").unwrap();
    assert_eq!(b.finish(), Ok(16));
    assert_eq!(
        buf,
        [6, 0, 0, 16, 0, 9, 0, 9, b'a', b'b', b'c', b'd', b'e', 0, 0, 0]
    );
    let mut short = [0u8; 12];
    let mut b = MessageBuilder::asap(&mut short, 6, 0).unwrap();
    assert_eq!(
        b.pool_handle(b"abcde"),
        Err(Error::BufferTooSmall { needed: 16 })
    );
    // A message of 300 bytes; one over 65,535 bytes is refused.
    let mut big = [0u8; 80_000];
    let mut b = MessageBuilder::asap(&mut big, 6, 0).unwrap();
    b.raw_parameter(&[0u8; 296]).unwrap();
    assert_eq!(b.finish(), Ok(300));
    assert_eq!(&big[..4], &[6, 0, 1, 44]);
    let mut b = MessageBuilder::asap(&mut big, 6, 0).unwrap();
    b.raw_parameter(&[0u8; 60_000]).unwrap();
    assert_eq!(b.raw_parameter(&[0u8; 10_000]), Err(Error::TooLong));
}

#[test]
fn types_convert_both_ways() {
    for raw in 0..=u8::MAX {
        assert_eq!(u8::from(AsapType::from(raw)), raw);
        assert_eq!(u8::from(EnrpType::from(raw)), raw);
        assert_eq!(AsapType::from(raw).is_known(), (1..=0x0E).contains(&raw));
        assert_eq!(EnrpType::from(raw).is_known(), (1..=0x0A).contains(&raw));
    }
    for raw in [0u16, 1, 0x10, 0x11, 0x803F, 0xFFFF] {
        assert_eq!(u16::from(ParamType::from(raw)), raw);
        assert_eq!(param_type::is_known(raw), ParamType::from(raw).is_known());
    }
    assert_eq!(AsapType::from(asap_type::ERROR), AsapType::Error);
    assert_eq!(EnrpType::from(0x0B), EnrpType::Unknown(0x0B));
    assert_eq!(ParamType::from(0x803F), ParamType::HandleResolutionOption);
    assert_eq!(asap_type::name(0x0E), Some("ASAP_ERROR"));
    assert_eq!(enrp_type::name(0x0B), None);
    assert_eq!(ParamType::PoolHandle.name(), Some("Pool Handle"));
}
