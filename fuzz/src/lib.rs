//! The checks the fuzz targets run, shared with the stable corpus replay
//! test (`tests/it/wire/fuzz_corpus.rs`; `tests/it/support` includes this
//! file by path).
//!
//! * [`asap_decode`] / [`enrp_decode`]: parsing arbitrary bytes never
//!   panics; a parsed message can be walked completely, displayed, measured
//!   and emitted, and an error's offending bytes lie inside the input.
//! * [`pcap_read`]: reading arbitrary bytes as a capture never panics.
//! * [`calcapp_decode`]: reading arbitrary bytes as a CalcApp message and
//!   as a CalcApp cookie never panics; what decodes encodes back to its
//!   bytes.
//! * [`roundtrip`]: the first byte picks the protocol; a parsed message
//!   emits (into a buffer of exactly [`buffer_len`] bytes) and parses back to
//!   an equal message, and emitting that again gives the same bytes.
//! * [`steps`]: the stateful targets `registrar_steps` and
//!   `pool_element_steps` (a machine driven by a sequence of messages,
//!   transport events and time steps, checked after every step), replayed
//!   by `tests/it/registrar/fuzz_steps.rs`.
//!
//! [`buffer_len`]: rserpool::wire::Message::buffer_len

#![forbid(unsafe_code)]

use core::fmt::Write as _;

use rserpool::wire::{
    offending_parameter, unrecognized_parameters, AsapMessage, CauseData, EnrpBody, EnrpMessage,
    Error, List, ListItem, Message, OperationError, PolicyParam, PoolElementParam, Protocol,
    TransportParam, UserTransport,
};

pub mod samples;
pub mod steps;

/// Reads `data` as a CalcApp message and as a CalcApp cookie: never
/// panics; a message encodes back to the bytes it came from (its length
/// field aside, which may exceed 24) and decodes again to itself; a cookie
/// encodes back to its 20 bytes and claims no more done than its size.
pub fn calcapp_decode(data: &[u8]) {
    use rserpool::wire::calcapp::{CalcAppCookie, CalcAppMessage, COOKIE_LEN, MESSAGE_LEN};
    if let Ok(m) = CalcAppMessage::decode(data) {
        let b = m.to_bytes();
        assert_eq!(b[..2], data[..2]);
        assert_eq!(b[4..], data[4..MESSAGE_LEN]);
        assert_eq!(CalcAppMessage::decode(&b), Ok(m));
        let _ = m.to_string();
    }
    if let Ok(c) = CalcAppCookie::decode(data) {
        assert_eq!(c.to_bytes()[..], data[..COOKIE_LEN]);
        assert!(c.completed <= c.job_size);
    }
}

/// Reads `data` as a pcap/pcapng capture: never panics, never yields more
/// messages than the capture could hold, and every message found decodes
/// (or fails) without panicking.
pub fn pcap_read(data: &[u8]) {
    let Ok(reader) = rserpool::capture::PcapReader::new(data) else {
        return;
    };
    let mut found = 0usize;
    for item in reader {
        let Ok(m) = item else { break };
        found += 1;
        assert!(found <= data.len(), "more messages than input bytes");
        assert!(m.bytes.len() <= data.len() + rserpool::capture::MAX_REASSEMBLY);
        let _ = Message::parse(m.protocol, &m.bytes);
    }
}

/// Parses `data` as ASAP and checks the result.
pub fn asap_decode(data: &[u8]) {
    decode(Protocol::Asap, data);
}

/// Parses `data` as ENRP and checks the result.
pub fn enrp_decode(data: &[u8]) {
    decode(Protocol::Enrp, data);
}

/// Picks the protocol by the low bit of the first byte, then checks that
/// decode → emit → decode yields the same message and the same bytes.
pub fn roundtrip(data: &[u8]) {
    let Some((&selector, msg)) = data.split_first() else {
        return;
    };
    let protocol = if selector & 1 == 0 {
        Protocol::Asap
    } else {
        Protocol::Enrp
    };
    roundtrip_as(protocol, msg);
}

/// The round-trip check for a message of a known protocol.
pub fn roundtrip_as(protocol: Protocol, msg: &[u8]) {
    let Ok(parsed) = Message::parse(protocol, msg) else {
        return;
    };
    let first = emit_exact(&parsed);
    let again = Message::parse(protocol, &first).unwrap_or_else(|e| {
        panic!("re-parsing the emitted message fails with {e:?}\ninput   {msg:02x?}\nemitted {first:02x?}")
    });
    assert_eq!(
        parsed, again,
        "the re-parsed message differs\ninput   {msg:02x?}\nemitted {first:02x?}"
    );
    let second = emit_exact(&again);
    assert_eq!(
        first, second,
        "emitting the re-parsed message gives other bytes"
    );
    // The emitted form is canonical: its Message Length covers all of it.
    let declared = usize::from(u16::from_be_bytes([first[2], first[3]]));
    assert_eq!(declared, first.len(), "emitted Message Length");
}

/// Emits into a buffer of exactly `buffer_len()` bytes (which must succeed)
/// and checks that one byte less is refused with the size needed.
fn emit_exact(m: &Message<'_>) -> Vec<u8> {
    let len = m.buffer_len();
    let mut buf = vec![0u8; len];
    let n = m
        .emit(&mut buf)
        .unwrap_or_else(|e| panic!("emitting a parsed message fails with {e:?}: {m:?}"));
    assert_eq!(n, len, "emit wrote other than buffer_len() bytes");
    assert_eq!(n % 4, 0, "emitted message is not padded to 4 bytes");
    if len > 0 {
        let mut short = vec![0u8; len - 1];
        match m.emit(&mut short) {
            Err(Error::BufferTooSmall { needed }) => {
                assert_eq!(needed, len, "BufferTooSmall names the wrong size")
            }
            other => panic!("emit into {} bytes gave {other:?}", len - 1),
        }
    }
    buf
}

fn decode(protocol: Protocol, data: &[u8]) {
    // The unrecognized-parameter scan must be safe on any input.
    for u in unrecognized_parameters(protocol, data).take(1_000) {
        assert!(u.tlv.len() >= 4);
    }
    match Message::parse(protocol, data) {
        Ok(m) => {
            let mut sum = 0u64;
            walk(&m, &mut sum);
            let mut text = String::new();
            write!(text, "{m}").expect("Display never fails");
            assert!(!text.is_empty());
            let _ = emit_exact(&m);
        }
        Err(e) => {
            let inside = |b: &[u8]| {
                let base = data.as_ptr() as usize;
                let at = b.as_ptr() as usize;
                assert!(at >= base && at + b.len() <= base + data.len());
            };
            if let Some(b) = e.offending_bytes(data) {
                inside(b);
            }
            // The TLV an Invalid Values cause would carry.
            if let Some(b) = offending_parameter(protocol, data) {
                inside(b);
            }
            let mut text = String::new();
            write!(text, "{e}").expect("Display never fails");
        }
    }
}

/// Reads every field of a message (every list item, parameter, address and
/// cause) into `sum`, so nothing stays unparsed behind a lazy list.
pub fn walk(m: &Message<'_>, sum: &mut u64) {
    let mut add = |v: u64| *sum = sum.wrapping_mul(31).wrapping_add(v);
    match m {
        Message::Asap(a) => walk_asap(a, &mut add),
        Message::Enrp(e) => walk_enrp(e, &mut add),
    }
}

fn bytes(b: &[u8], add: &mut impl FnMut(u64)) {
    add(b.len() as u64);
    for &x in b {
        add(u64::from(x));
    }
}

fn list<'a, T: ListItem<'a>>(
    l: &List<'a, T>,
    add: &mut impl FnMut(u64),
    mut each: impl FnMut(&T, &mut dyn FnMut(u64)),
) {
    let mut n = 0;
    for item in l.iter() {
        each(&item, &mut |v| add(v));
        n += 1;
    }
    assert_eq!(n, l.len(), "a list yields other than len() items");
}

fn transport(t: &TransportParam<'_>, add: &mut dyn FnMut(u64)) {
    add(u64::from(t.protocol.parameter_type()));
    add(u64::from(t.port));
    add(u64::from(t.transport_use.value()));
    add(u64::from(t.service_code));
    let mut n = 0;
    for a in t.addresses.iter() {
        match a {
            core::net::IpAddr::V4(v4) => add(u64::from(u32::from(v4))),
            core::net::IpAddr::V6(v6) => add(u128::from(v6) as u64),
        }
        n += 1;
    }
    assert_eq!(n, t.addresses.len());
}

fn policy(p: &PolicyParam<'_>, add: &mut dyn FnMut(u64)) {
    add(u64::from(p.policy_type()));
    match p {
        PolicyParam::Known(k) => {
            let (v, n) = k.parameters();
            for x in &v[..n] {
                add(u64::from(*x));
            }
        }
        PolicyParam::Unknown { data, .. } => bytes(data, &mut |v| add(v)),
    }
}

fn element(e: &PoolElementParam<'_>, add: &mut dyn FnMut(u64)) {
    add(u64::from(e.pe_id.get()));
    add(u64::from(e.home_server.map_or(0, |s| s.get())));
    add(e.registration_life as u64);
    match &e.user_transport {
        UserTransport::Transport(t) => transport(t, add),
        UserTransport::Opaque(b) => bytes(b, &mut |v| add(v)),
    }
    policy(&e.policy, add);
    if let Some(t) = &e.asap_transport {
        transport(t, add);
    }
}

fn operation_error(e: &OperationError<'_>, add: &mut impl FnMut(u64)) {
    list(&e.causes, add, |c, add| {
        add(u64::from(c.code.code()));
        match &c.data {
            CauseData::Bytes(b) => bytes(b, &mut |v| add(v)),
            CauseData::Policy(p) => policy(p, add),
            CauseData::Transport(t) => transport(t, add),
        }
    });
}

fn walk_asap(m: &AsapMessage<'_>, add: &mut impl FnMut(u64)) {
    add(u64::from(m.message_type().raw()));
    add(u64::from(m.flags()));
    if let Some(h) = m.pool_handle() {
        bytes(h, add);
    }
    match m {
        AsapMessage::Registration { pool_element, .. } => element(pool_element, &mut |v| add(v)),
        AsapMessage::Deregistration { pe_id, .. }
        | AsapMessage::EndpointKeepAliveAck { pe_id, .. }
        | AsapMessage::EndpointUnreachable { pe_id, .. } => add(u64::from(pe_id.get())),
        AsapMessage::RegistrationResponse { pe_id, error, .. }
        | AsapMessage::DeregistrationResponse { pe_id, error, .. } => {
            add(u64::from(pe_id.get()));
            if let Some(e) = error {
                operation_error(e, add);
            }
        }
        AsapMessage::HandleResolution { items, .. } => add(u64::from(items.unwrap_or(0))),
        AsapMessage::HandleResolutionResponse {
            policy: p,
            elements,
            error,
            ..
        } => {
            if let Some(p) = p {
                policy(p, &mut |v| add(v));
            }
            list(elements, add, |e, add| element(e, add));
            if let Some(e) = error {
                operation_error(e, add);
            }
        }
        AsapMessage::EndpointKeepAlive {
            server_id, pe_id, ..
        } => {
            add(u64::from(server_id.get()));
            add(u64::from(pe_id.map_or(0, |p| p.get())));
        }
        AsapMessage::ServerAnnounce {
            server_id,
            transports,
        } => {
            add(u64::from(server_id.get()));
            list(transports, add, |t, add| transport(t, add));
        }
        AsapMessage::Cookie { cookie } | AsapMessage::CookieEcho { cookie } => bytes(cookie, add),
        AsapMessage::BusinessCard {
            policy: p,
            elements,
            ..
        } => {
            if let Some(p) = p {
                policy(p, &mut |v| add(v));
            }
            list(elements, add, |e, add| element(e, add))
        }
        AsapMessage::Error { error } => operation_error(error, add),
    }
}

fn walk_enrp(m: &EnrpMessage<'_>, add: &mut impl FnMut(u64)) {
    add(u64::from(m.sender.get()));
    add(u64::from(m.receiver.map_or(0, |s| s.get())));
    add(u64::from(m.body.message_type().raw()));
    add(u64::from(m.body.flags()));
    match &m.body {
        EnrpBody::Presence {
            checksum,
            server_info,
            ..
        } => {
            add(u64::from(checksum.unwrap_or(0)));
            if let Some(s) = server_info {
                add(u64::from(s.server_id.get()));
                transport(&s.transport, &mut |v| add(v));
            }
        }
        EnrpBody::HandleTableRequest { .. } | EnrpBody::ListRequest => {}
        EnrpBody::HandleTableResponse { entries, .. } => list(entries, add, |e, add| {
            bytes(e.pool_handle, &mut |v| add(v));
            let mut n = 0;
            for pe in e.elements.iter() {
                element(&pe, add);
                n += 1;
            }
            assert_eq!(n, e.elements.len());
        }),
        EnrpBody::HandleUpdate {
            action,
            pool_handle,
            pool_element,
            ..
        } => {
            add(u64::from(action.value()));
            bytes(pool_handle, add);
            element(pool_element, &mut |v| add(v));
        }
        EnrpBody::ListResponse { servers, .. } => list(servers, add, |s, add| {
            add(u64::from(s.server_id.get()));
            transport(&s.transport, add);
        }),
        EnrpBody::InitTakeover { target }
        | EnrpBody::InitTakeoverAck { target }
        | EnrpBody::TakeoverServer { target } => add(u64::from(target.get())),
        EnrpBody::Error { error } => operation_error(error, add),
    }
}
