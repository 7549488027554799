//! Cross-checks the ASAP/ENRP codec against an independent decoder:
//! Wireshark's `tshark`.
//!
//! Every sample message (all 14 ASAP and 10 ENRP message types, all 18
//! policies, every flag; see `fuzz/src/samples.rs`) is encoded with the
//! codec, written with the crate's [`PcapWriter`] once over UDP (IPv4,
//! well-known ports), once over SCTP over UDP (IPv6, PPID 11/12) and once
//! over plain SCTP (IPv4, IP protocol 132, PPID 11/12), and decoded by
//! tshark. The test then compares, frame by frame and in wire
//! order, what tshark decoded with what was encoded: message type and flags
//! (and the R, H, W, M, T bits tshark names), pool handles, PE identifiers,
//! server identifiers, registration life, policy types and values, addresses,
//! ports, transport use, cookies, cause codes and the ENRP fields.
//!
//! tshark does not check Length fields (it parses to the end of the data), so
//! this test walks every message's TLVs itself: the Message Length, every
//! parameter and cause length must frame the data exactly (padding zero), and
//! tshark must report the same parameter types and lengths in the same order.
//! It also requires: no malformed packet, no expert info, good IPv4/UDP
//! checksums and a good SCTP CRC32c.
//!
//! Needs `tshark` (`scripts/test` installs it). Without it the test fails.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, UNIX_EPOCH};

use crate::support::fuzz_checks::samples;
use rserpool::capture::{Encapsulation, PcapWriter};
use rserpool::policy::{id as policy_id, Policy};
use rserpool::wire::{
    AsapMessage, CauseData, EnrpBody, Message, OperationError, PolicyParam, PoolElementParam,
    Protocol, TransportParam, UserTransport,
};

/// A value tshark should show for a field.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    /// An integer (tshark shows decimal or 0x-hex).
    Int(i64),
    /// Text compared as is (addresses) or lower-case hex (byte fields).
    Text(String),
    /// A load or degradation: tshark shows value / 0xFFFFFFFF × 100.
    Percent(u32),
    /// A DPF: tshark shows value / 0xFFFFFFFF.
    Fraction(u32),
}

/// Expected fields of one message, by field name without the protocol
/// prefix, each in wire order.
#[derive(Default, Debug)]
struct Expect {
    fields: BTreeMap<&'static str, Vec<Val>>,
}

impl Expect {
    fn put(&mut self, field: &'static str, v: Val) {
        self.fields.entry(field).or_default().push(v);
    }
    fn int(&mut self, field: &'static str, v: impl Into<i64>) {
        self.put(field, Val::Int(v.into()));
    }
    fn hex(&mut self, field: &'static str, b: &[u8]) {
        self.put(
            field,
            Val::Text(b.iter().map(|x| format!("{x:02x}")).collect()),
        );
    }
}

/// Every field the test compares (without the `asap.`/`enrp.` prefix).
const COMMON_FIELDS: &[&str] = &[
    "message_type",
    "message_flags",
    "message_length",
    "parameter_type",
    "parameter_length",
    "cause_code",
    "cause_length",
    "pool_handle_pool_handle",
    "pool_element_pe_identifier",
    "pool_element_home_enrp_server_identifier",
    "pool_element_registration_life",
    "pe_identifier",
    "pe_checksum",
    "cookie",
    "pool_member_selection_policy_type",
    "pool_member_selection_policy_weight",
    "pool_member_selection_policy_priority",
    "pool_member_selection_policy_load",
    "pool_member_selection_policy_degradation",
    "pool_member_selection_policy_load_dpf",
    "pool_member_selection_policy_weight_dpf",
    "pool_member_selection_policy_distance",
    "pool_member_selection_policy_value",
    "ipv4_address",
    "ipv6_address",
    "sctp_transport_port",
    "tcp_transport_port",
    "udp_transport_port",
    "udp_lite_transport_port",
    "dccp_transport_port",
    "dccp_transport_service_code",
    "transport_use",
    "r_bit",
];
const ASAP_FIELDS: &[&str] = &["server_identifier", "hropt_items", "h_bit"];
const ENRP_FIELDS: &[&str] = &[
    "sender_servers_id",
    "receiver_servers_id",
    "target_servers_id",
    "update_action",
    "server_information_server_identifier",
    "w_bit",
    "m_bit",
    "t_bit",
];
/// Fields outside the ASAP/ENRP trees, for checksums and errors.
const FRAME_FIELDS: &[&str] = &[
    "frame.number",
    "frame.protocols",
    "_ws.expert.message",
    "sctp.checksum.status",
    "udp.checksum.status",
    "ip.checksum.status",
];

/// Policies tshark 4.0 shows only as raw value bytes (SPEC §12.2, §14).
const UNDECODED_POLICIES: &[u32] = &[
    policy_id::RANDOMIZED_PRIORITY_LEAST_USED,
    policy_id::RANDOMIZED_LEAST_USED_DEGRADATION,
    policy_id::PRIORITY_LEAST_USED_DEGRADATION,
    policy_id::RANDOMIZED_PRIORITY_LEAST_USED_DEGRADATION,
    policy_id::LEAST_USED_DEGRADATION_DPF,
    policy_id::PRIORITY_LEAST_USED_DPF,
    policy_id::PRIORITY_LEAST_USED_DEGRADATION_DPF,
];

fn expect_policy(e: &mut Expect, p: &PolicyParam<'_>) {
    let ty = p.policy_type();
    e.int("pool_member_selection_policy_type", ty);
    let PolicyParam::Known(k) = p else {
        panic!("samples use known policies only");
    };
    let (v, n) = k.parameters();
    if UNDECODED_POLICIES.contains(&ty) {
        let bytes: Vec<u8> = v[..n].iter().flat_map(|x| x.to_be_bytes()).collect();
        e.hex("pool_member_selection_policy_value", &bytes);
        return;
    }
    use Policy as P;
    match *k {
        P::RoundRobin | P::Random => {}
        P::WeightedRoundRobin { weight } | P::WeightedRandom { weight } => {
            e.int("pool_member_selection_policy_weight", weight)
        }
        P::Priority { priority } => e.int("pool_member_selection_policy_priority", priority),
        P::LeastUsed { load } | P::RandomizedLeastUsed { load } => {
            e.put("pool_member_selection_policy_load", Val::Percent(load))
        }
        P::LeastUsedDegradation { load, degradation }
        | P::PriorityLeastUsed { load, degradation } => {
            e.put("pool_member_selection_policy_load", Val::Percent(load));
            e.put(
                "pool_member_selection_policy_degradation",
                Val::Percent(degradation),
            );
        }
        P::WeightedRandomDpf {
            weight,
            weight_dpf,
            distance,
        } => {
            e.int("pool_member_selection_policy_weight", weight);
            e.put(
                "pool_member_selection_policy_weight_dpf",
                Val::Fraction(weight_dpf),
            );
            e.int("pool_member_selection_policy_distance", distance);
        }
        P::LeastUsedDpf {
            load,
            load_dpf,
            distance,
        } => {
            e.put("pool_member_selection_policy_load", Val::Percent(load));
            e.put(
                "pool_member_selection_policy_load_dpf",
                Val::Fraction(load_dpf),
            );
            e.int("pool_member_selection_policy_distance", distance);
        }
        other => panic!("policy {other:?} is not in the undecoded list but has no expectation"),
    }
}

fn expect_transport(e: &mut Expect, t: &TransportParam<'_>) {
    use rserpool::addr::TransportProtocol as T;
    let port_field = match t.protocol {
        T::Sctp => "sctp_transport_port",
        T::Tcp => "tcp_transport_port",
        T::Udp => "udp_transport_port",
        T::UdpLite => "udp_lite_transport_port",
        T::Dccp => "dccp_transport_port",
    };
    e.int(port_field, t.port);
    match t.protocol {
        T::Sctp | T::Tcp => e.int("transport_use", t.transport_use.value()),
        // tshark 4.0 declares the DCCP service code as 16 bits and shows its
        // low half (RFC 5354 §3.3 makes it 32 bits).
        T::Dccp => e.int("dccp_transport_service_code", t.service_code & 0xFFFF),
        T::Udp | T::UdpLite => {}
    }
    for a in t.addresses.iter() {
        match a {
            IpAddr::V4(v4) => e.put("ipv4_address", Val::Text(v4.to_string())),
            IpAddr::V6(v6) => e.put("ipv6_address", Val::Text(v6.to_string())),
        }
    }
}

fn expect_element(e: &mut Expect, pe: &PoolElementParam<'_>) {
    e.int("pool_element_pe_identifier", pe.pe_id.get());
    e.int(
        "pool_element_home_enrp_server_identifier",
        pe.home_server.map_or(0, |s| s.get()),
    );
    e.int("pool_element_registration_life", pe.registration_life);
    match &pe.user_transport {
        UserTransport::Transport(t) => expect_transport(e, t),
        UserTransport::Opaque(_) => {} // tshark does not decode Opaque Transport
    }
    expect_policy(e, &pe.policy);
    if let Some(t) = &pe.asap_transport {
        expect_transport(e, t);
    }
}

fn expect_error(e: &mut Expect, err: &OperationError<'_>) {
    for c in err.causes.iter() {
        e.int("cause_code", c.code.code());
        match &c.data {
            CauseData::Bytes(_) => {}
            CauseData::Policy(p) => expect_policy(e, p),
            CauseData::Transport(t) => expect_transport(e, t),
        }
    }
}

/// What tshark should decode from `m`.
fn expect(m: &Message<'_>, bytes: &[u8]) -> Expect {
    let mut e = Expect::default();
    e.int("message_length", u16::from_be_bytes([bytes[2], bytes[3]]));
    match m {
        Message::Asap(a) => {
            e.int("message_type", u8::from(a.message_type()));
            e.int("message_flags", a.flags());
            if let Some(h) = a.pool_handle() {
                e.hex("pool_handle_pool_handle", h);
            }
            match a {
                AsapMessage::Registration { pool_element, .. } => {
                    expect_element(&mut e, pool_element)
                }
                AsapMessage::Deregistration { pe_id, .. }
                | AsapMessage::EndpointKeepAliveAck { pe_id, .. }
                | AsapMessage::EndpointUnreachable { pe_id, .. } => {
                    e.int("pe_identifier", pe_id.get())
                }
                AsapMessage::RegistrationResponse {
                    rejected,
                    pe_id,
                    error,
                    ..
                } => {
                    e.int("r_bit", i64::from(*rejected));
                    e.int("pe_identifier", pe_id.get());
                    if let Some(err) = error {
                        expect_error(&mut e, err);
                    }
                }
                AsapMessage::DeregistrationResponse { pe_id, error, .. } => {
                    e.int("pe_identifier", pe_id.get());
                    if let Some(err) = error {
                        expect_error(&mut e, err);
                    }
                }
                AsapMessage::HandleResolution { items, .. } => {
                    if let Some(n) = items {
                        e.int("hropt_items", *n);
                    }
                }
                AsapMessage::HandleResolutionResponse {
                    policy,
                    elements,
                    error,
                    ..
                } => {
                    if let Some(p) = policy {
                        expect_policy(&mut e, p);
                    }
                    for pe in elements.iter() {
                        expect_element(&mut e, &pe);
                    }
                    if let Some(err) = error {
                        expect_error(&mut e, err);
                    }
                }
                AsapMessage::EndpointKeepAlive {
                    home,
                    server_id,
                    pe_id,
                    ..
                } => {
                    e.int("h_bit", i64::from(*home));
                    e.int("server_identifier", server_id.get());
                    if let Some(p) = pe_id {
                        e.int("pe_identifier", p.get());
                    }
                }
                AsapMessage::ServerAnnounce {
                    server_id,
                    transports,
                } => {
                    e.int("server_identifier", server_id.get());
                    for t in transports.iter() {
                        expect_transport(&mut e, &t);
                    }
                }
                AsapMessage::Cookie { cookie } | AsapMessage::CookieEcho { cookie } => {
                    e.hex("cookie", cookie)
                }
                AsapMessage::BusinessCard {
                    policy, elements, ..
                } => {
                    if let Some(p) = policy {
                        expect_policy(&mut e, p);
                    }
                    for pe in elements.iter() {
                        expect_element(&mut e, &pe);
                    }
                }
                AsapMessage::Error { error } => expect_error(&mut e, error),
            }
        }
        Message::Enrp(n) => {
            e.int("message_type", u8::from(n.body.message_type()));
            e.int("message_flags", n.body.flags());
            e.int("sender_servers_id", n.sender.get());
            e.int("receiver_servers_id", n.receiver.map_or(0, |s| s.get()));
            match &n.body {
                EnrpBody::Presence {
                    reply_required,
                    checksum,
                    server_info,
                } => {
                    e.int("r_bit", i64::from(*reply_required));
                    if let Some(c) = checksum {
                        e.int("pe_checksum", *c);
                    }
                    if let Some(s) = server_info {
                        e.int("server_information_server_identifier", s.server_id.get());
                        expect_transport(&mut e, &s.transport);
                    }
                }
                EnrpBody::HandleTableRequest { own_children_only } => {
                    e.int("w_bit", i64::from(*own_children_only))
                }
                EnrpBody::HandleTableResponse {
                    more_to_send,
                    rejected,
                    entries,
                } => {
                    e.int("r_bit", i64::from(*rejected));
                    e.int("m_bit", i64::from(*more_to_send));
                    for entry in entries.iter() {
                        e.hex("pool_handle_pool_handle", entry.pool_handle);
                        for pe in entry.elements.iter() {
                            expect_element(&mut e, &pe);
                        }
                    }
                }
                EnrpBody::HandleUpdate {
                    takeover_suggested,
                    action,
                    pool_handle,
                    pool_element,
                } => {
                    e.int("t_bit", i64::from(*takeover_suggested));
                    e.int("update_action", action.value());
                    e.hex("pool_handle_pool_handle", pool_handle);
                    expect_element(&mut e, pool_element);
                }
                EnrpBody::ListRequest => {}
                EnrpBody::ListResponse { rejected, servers } => {
                    e.int("r_bit", i64::from(*rejected));
                    for s in servers.iter() {
                        e.int("server_information_server_identifier", s.server_id.get());
                        expect_transport(&mut e, &s.transport);
                    }
                }
                EnrpBody::InitTakeover { target }
                | EnrpBody::InitTakeoverAck { target }
                | EnrpBody::TakeoverServer { target } => e.int("target_servers_id", target.get()),
                EnrpBody::Error { error } => expect_error(&mut e, error),
            }
        }
    }
    e
}

// ---------------------------------------------------------------------------
// Our own walk of the framing: tshark does not check lengths.

/// Parameter and cause (type, length) pairs in wire order, as tshark lists
/// them.
#[derive(Default, Debug)]
struct Framing {
    params: Vec<(u16, u16)>,
    causes: Vec<(u16, u16)>,
}

/// Checks that the TLVs in `region` frame it exactly: every length at least
/// 4 and inside the region, padding zero, and the last TLV ending at the
/// region's end (its padding may lie inside or, RFC 5354 style, outside).
fn walk_tlvs(name: &str, region: &[u8], f: &mut Framing, cause_list: bool) {
    let mut at = 0;
    while at < region.len() {
        assert!(
            at + 4 <= region.len(),
            "{name}: {} stray bytes after the last parameter",
            region.len() - at
        );
        let ty = u16::from_be_bytes([region[at], region[at + 1]]);
        let len = u16::from_be_bytes([region[at + 2], region[at + 3]]);
        let l = usize::from(len);
        assert!(l >= 4, "{name}: TLV {ty:#06x} has length {l} < 4");
        assert!(
            at + l <= region.len(),
            "{name}: TLV {ty:#06x} of length {l} at {at} overruns its {}-byte region",
            region.len()
        );
        let value = &region[at + 4..at + l];
        let padded_end = (at + l + 3) & !3;
        let pad = &region[at + l..padded_end.min(region.len())];
        assert!(
            pad.iter().all(|&b| b == 0),
            "{name}: non-zero padding after {ty:#06x}"
        );
        if cause_list {
            f.causes.push((ty, len));
            // tshark dissects the information of these causes as parameters.
            if matches!(ty, 0x1 | 0x3 | 0x5 | 0x7) {
                walk_tlvs(name, value, f, false);
            }
        } else {
            f.params.push((ty, len));
            let nested = match ty {
                0x0003 => Some(8),
                0x0004..=0x0007 => Some(4),
                0x000A => Some(12),
                0x000B => Some(4),
                _ => None,
            };
            if let Some(fixed) = nested {
                assert!(
                    value.len() >= fixed,
                    "{name}: {ty:#06x} shorter than its fixed part"
                );
                walk_tlvs(name, &value[fixed..], f, false);
            } else if ty == 0x000C {
                walk_tlvs(name, value, f, true);
            }
        }
        at = padded_end;
    }
}

fn framing(name: &str, protocol: Protocol, msg: &[u8]) -> Framing {
    assert!(msg.len() >= 4, "{name}: shorter than a header");
    let declared = usize::from(u16::from_be_bytes([msg[2], msg[3]]));
    assert!(
        declared >= 4 && declared <= msg.len(),
        "{name}: Message Length {declared}"
    );
    assert!(
        msg.len() - declared <= 3 && msg[declared..].iter().all(|&b| b == 0),
        "{name}: Message Length {declared} leaves {} bytes that are not padding",
        msg.len() - declared
    );
    assert_eq!(msg.len() % 4, 0, "{name}: message not padded to 4 bytes");
    let fixed = match (protocol, msg[0]) {
        (Protocol::Asap, 0x07 | 0x0A) => 4,
        (Protocol::Asap, _) => 0,
        (Protocol::Enrp, 0x04 | 0x07..=0x09) => 12,
        (Protocol::Enrp, _) => 8,
    };
    assert!(
        declared >= 4 + fixed,
        "{name}: Message Length below its fixed fields"
    );
    let mut f = Framing::default();
    walk_tlvs(name, &msg[4 + fixed..declared], &mut f, false);
    f
}

// ---------------------------------------------------------------------------
// Running tshark

fn tshark_available() {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => panic!(
            "tshark --version failed ({}): run scripts/test, which installs tshark",
            o.status
        ),
        Err(e) => panic!(
            "tshark is not installed ({e}); this test needs it as an independent decoder. \
             Run scripts/test (it installs tshark), or: sudo apt-get install -y tshark"
        ),
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "rserpool-wireshark-{tag}-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&p).expect("create temporary directory");
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs tshark on `pcap`; returns one map of field → values per frame.
fn run_tshark(pcap: &Path) -> Vec<BTreeMap<String, String>> {
    let mut columns: Vec<String> = FRAME_FIELDS.iter().map(|s| s.to_string()).collect();
    for p in ["asap", "enrp"] {
        for f in COMMON_FIELDS {
            columns.push(format!("{p}.{f}"));
        }
    }
    columns.extend(ASAP_FIELDS.iter().map(|f| format!("asap.{f}")));
    columns.extend(ENRP_FIELDS.iter().map(|f| format!("enrp.{f}")));
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap);
    for o in [
        "sctp.checksum:CRC 32c",
        "ip.check_checksum:TRUE",
        "udp.check_checksum:TRUE",
    ] {
        cmd.args(["-o", o]);
    }
    cmd.args([
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=,",
    ]);
    for c in &columns {
        cmd.args(["-e", c]);
    }
    let out = cmd.output().expect("run tshark");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "tshark failed: {stderr}");
    String::from_utf8(out.stdout)
        .expect("tshark prints UTF-8")
        .lines()
        .map(|line| {
            let values: Vec<&str> = line.split('\t').collect();
            assert_eq!(values.len(), columns.len(), "tshark row: {line}");
            columns
                .iter()
                .zip(values)
                .map(|(c, v)| (c.clone(), v.to_string()))
                .collect()
        })
        .collect()
}

fn split(v: &str) -> Vec<&str> {
    if v.is_empty() {
        Vec::new()
    } else {
        v.split(',').collect()
    }
}

fn parse_int(s: &str) -> Option<i64> {
    match s {
        "True" | "true" => Some(1),
        "False" | "false" => Some(0),
        _ => match s.strip_prefix("0x") {
            Some(h) => i64::from_str_radix(h, 16).ok(),
            None => s.parse().ok(),
        },
    }
}

fn matches(expected: &Val, shown: &str) -> bool {
    let ratio = |v: u32| f64::from(v) / f64::from(u32::MAX);
    let close = |want: f64| {
        shown
            .parse::<f64>()
            .is_ok_and(|got| (got - want).abs() <= 1e-9 * want.abs().max(1.0))
    };
    match expected {
        Val::Int(i) => parse_int(shown) == Some(*i),
        Val::Text(t) => shown.eq_ignore_ascii_case(t),
        Val::Percent(v) => close(ratio(*v) * 100.0),
        Val::Fraction(v) => close(ratio(*v)),
    }
}

struct Frame {
    name: String,
    protocol: Protocol,
    encapsulation: Encapsulation,
    bytes: Vec<u8>,
    expect: Expect,
}

fn prefix(p: Protocol) -> &'static str {
    match p {
        Protocol::Asap => "asap",
        Protocol::Enrp => "enrp",
    }
}

/// Compares one tshark row with a frame; returns the number of values compared.
fn check_frame(frame: &Frame, row: &BTreeMap<String, String>) -> usize {
    let name = format!(
        "{} over {:?} (frame {})",
        frame.name, frame.encapsulation, row["frame.number"]
    );
    let p = prefix(frame.protocol);
    let layers: Vec<&str> = row["frame.protocols"].split(':').collect();
    assert!(
        layers.contains(&p),
        "{name}: tshark did not decode it as {p}: {layers:?}"
    );
    assert!(
        !layers.iter().any(|l| l.contains("malformed")),
        "{name}: tshark reports a malformed packet"
    );
    assert_eq!(row["_ws.expert.message"], "", "{name}: tshark expert info");
    assert_eq!(
        row["ip.checksum.status"],
        if matches!(
            frame.encapsulation,
            Encapsulation::Udp | Encapsulation::Sctp
        ) {
            "1"
        } else {
            ""
        },
        "{name}: IPv4 header checksum status"
    );
    // Every UDP datagram carries a checksum (for IPv6 it is mandatory);
    // plain SCTP has no UDP.
    assert_eq!(
        row["udp.checksum.status"],
        if frame.encapsulation == Encapsulation::Sctp {
            ""
        } else {
            "1"
        },
        "{name}: UDP checksum status"
    );
    match frame.encapsulation {
        Encapsulation::SctpOverUdp | Encapsulation::Sctp => {
            assert!(layers.contains(&"sctp"), "{name}: not carried in SCTP");
            assert_eq!(
                layers.contains(&"udp"),
                frame.encapsulation == Encapsulation::SctpOverUdp,
                "{name}: SCTP over UDP or over IP: {layers:?}"
            );
            assert_eq!(
                row["sctp.checksum.status"], "1",
                "{name}: SCTP CRC32c not good"
            );
        }
        _ => assert!(!layers.contains(&"sctp"), "{name}: unexpected SCTP"),
    }

    // Our own framing walk, and tshark's view of the same framing.
    let f = framing(&name, frame.protocol, &frame.bytes);
    let types: Vec<i64> = f.params.iter().map(|&(t, _)| i64::from(t)).collect();
    let lens: Vec<i64> = f.params.iter().map(|&(_, l)| i64::from(l)).collect();
    let codes: Vec<i64> = f.causes.iter().map(|&(t, _)| i64::from(t)).collect();
    let cause_lens: Vec<i64> = f.causes.iter().map(|&(_, l)| i64::from(l)).collect();
    let mut compared = 0;
    for (field, want) in [
        ("parameter_type", &types),
        ("parameter_length", &lens),
        ("cause_length", &cause_lens),
    ] {
        let shown: Vec<Option<i64>> = split(&row[&format!("{p}.{field}")])
            .into_iter()
            .map(parse_int)
            .collect();
        let want: Vec<Option<i64>> = want.iter().map(|&v| Some(v)).collect();
        assert_eq!(
            shown, want,
            "{name}: {p}.{field} differs from the message's own framing"
        );
        compared += want.len();
    }
    // The cause codes tshark shows are those of the framing walk, and the
    // encoded ones (checked below with the other fields).
    let shown_codes: Vec<Option<i64>> = split(&row[&format!("{p}.cause_code")])
        .into_iter()
        .map(parse_int)
        .collect();
    assert_eq!(
        shown_codes,
        codes.iter().map(|&c| Some(c)).collect::<Vec<_>>(),
        "{name}: cause codes"
    );

    // Every decoded field against what was encoded.
    let own: &[&str] = match frame.protocol {
        Protocol::Asap => ASAP_FIELDS,
        Protocol::Enrp => ENRP_FIELDS,
    };
    for field in COMMON_FIELDS.iter().chain(own) {
        if matches!(
            *field,
            "parameter_type" | "parameter_length" | "cause_length"
        ) {
            continue;
        }
        let shown = split(&row[&format!("{p}.{field}")]);
        let want = frame.expect.fields.get(field).cloned().unwrap_or_default();
        assert_eq!(
            shown.len(),
            want.len(),
            "{name}: {p}.{field}: tshark shows {shown:?}, encoded {want:?}"
        );
        for (s, w) in shown.iter().zip(&want) {
            assert!(
                matches(w, s),
                "{name}: {p}.{field}: tshark shows {s}, encoded {w:?}"
            );
        }
        compared += want.len();
    }
    // No expectation may name a field that was not compared.
    for field in frame.expect.fields.keys() {
        assert!(
            COMMON_FIELDS.contains(field) || own.contains(field),
            "{name}: expectation for unchecked field {field}"
        );
    }
    compared
}

fn endpoints(protocol: Protocol, encapsulation: Encapsulation) -> (SocketAddr, SocketAddr) {
    let port = protocol.port();
    match encapsulation {
        Encapsulation::SctpOverUdp => (
            SocketAddr::new("2001:db8::1".parse().unwrap(), 40_000),
            SocketAddr::new("2001:db8::2".parse().unwrap(), port),
        ),
        _ => (
            SocketAddr::new("192.0.2.1".parse().unwrap(), 40_000),
            SocketAddr::new("192.0.2.2".parse().unwrap(), port),
        ),
    }
}

#[test]
fn tshark_decodes_every_message_as_encoded() {
    tshark_available();
    let dir = TempDir::new("all");
    let pcap = dir.0.join("all.pcap");
    let mut frames = Vec::new();
    for encapsulation in [
        Encapsulation::Udp,
        Encapsulation::SctpOverUdp,
        Encapsulation::Sctp,
    ] {
        samples::for_each(&mut |name, m| {
            let bytes = samples::encode(&m);
            frames.push(Frame {
                name: name.to_string(),
                protocol: m.protocol(),
                encapsulation,
                expect: expect(&m, &bytes),
                bytes,
            });
        });
    }
    let mut w = PcapWriter::create(&pcap).expect("create capture");
    for (i, f) in frames.iter().enumerate() {
        let (a, b) = endpoints(f.protocol, f.encapsulation);
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000) + Duration::from_millis(i as u64);
        w.write(f.protocol, a, b, t, &f.bytes, f.encapsulation)
            .expect("write frame");
    }
    w.flush().expect("flush capture");
    drop(w);

    let rows = run_tshark(&pcap);
    assert_eq!(
        rows.len(),
        frames.len(),
        "tshark saw another number of frames"
    );
    let mut compared = 0;
    let mut types = std::collections::BTreeSet::new();
    let mut policies = std::collections::BTreeSet::new();
    for (frame, row) in frames.iter().zip(&rows) {
        compared += check_frame(frame, row);
        types.insert((prefix(frame.protocol), frame.bytes[0]));
        for v in frame
            .expect
            .fields
            .get("pool_member_selection_policy_type")
            .into_iter()
            .flatten()
        {
            if let Val::Int(t) = v {
                policies.insert(*t);
            }
        }
    }
    assert_eq!(types.len(), 24, "message types covered: {types:?}");
    assert_eq!(policies.len(), 18, "policies covered: {policies:?}");
    assert!(compared > 1_000, "only {compared} values compared");
}

/// The oracle notices a broken CRC32c and a wrong Message Length that
/// tshark itself would not flag, so the checks above can fail.
#[test]
fn checks_catch_a_bad_crc_and_a_bad_length() {
    tshark_available();
    let dir = TempDir::new("bad");
    let pcap = dir.0.join("bad.pcap");
    let mut msg = Vec::new();
    samples::for_each(&mut |name, m| {
        if name == "asap_deregistration" {
            msg = samples::encode(&m);
        }
    });
    let mut w = PcapWriter::new(Vec::new()).expect("capture");
    let (a, b) = endpoints(Protocol::Asap, Encapsulation::Udp);
    w.write(
        Protocol::Asap,
        a,
        b,
        UNIX_EPOCH,
        &msg,
        Encapsulation::SctpOverUdp,
    )
    .expect("write");
    let mut bytes = w.into_inner();
    // pcap header 24, record header 16, Ethernet 14, IPv4 20, UDP 8, then
    // the SCTP common header with the CRC32c at offset 8.
    bytes[24 + 16 + 14 + 20 + 8 + 8] ^= 0xFF;
    std::fs::write(&pcap, &bytes).expect("write capture");
    let rows = run_tshark(&pcap);
    assert_eq!(rows.len(), 1);
    assert_ne!(
        rows[0]["sctp.checksum.status"], "1",
        "a broken CRC32c went unnoticed"
    );

    // A Message Length 4 bytes short: tshark decodes it "cleanly", the
    // framing walk refuses it.
    let mut short = msg.clone();
    let l = u16::from_be_bytes([short[2], short[3]]) - 4;
    short[2..4].copy_from_slice(&l.to_be_bytes());
    let refused = std::panic::catch_unwind(|| framing("short", Protocol::Asap, &short));
    assert!(refused.is_err(), "a wrong Message Length went unnoticed");
}
