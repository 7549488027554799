//! Prints every ASAP/ENRP message found in a capture or a hex string.
//!
//! ```text
//! cargo run --example decode -- --pcap FILE [--json]
//! cargo run --example decode -- --hex HEX --proto asap|enrp [--json]
//! ```
//!
//! One line per message: the RFC name, the flags set, and every field and
//! parameter (the codec's `Display`), or with `--json` one JSON object per
//! line with the same content. A capture may be pcap or pcapng (tcpdump,
//! Wireshark, or this crate's `PcapWriter`); messages are found on UDP
//! 3863/9901, in SCTP-over-UDP (9899) DATA chunks with PPID 11/12, and on TCP
//! 3863. A hex string may hold several messages back to back (split by their
//! Message Length). A malformed message prints the codec's typed error and
//! decoding goes on with the next one.

use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::process::ExitCode;
use std::time::UNIX_EPOCH;

use rserpool::capture::{CapturedMessage, Encapsulation, PcapReader};
use rserpool::policy::Policy;
use rserpool::wire::{
    unrecognized_parameters, AsapMessage, CauseData, EnrpBody, EnrpMessage, Message,
    OperationError, PolicyParam, PoolElementParam, Protocol, TransportParam, UserTransport,
};

const USAGE: &str =
    "usage: decode --pcap FILE [--json]\n       decode --hex HEX --proto asap|enrp [--json]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut pcap = None;
    let mut hex = None;
    let mut proto = None;
    let mut json = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--pcap" => pcap = it.next().cloned(),
            "--hex" => hex = it.next().cloned(),
            "--proto" => proto = it.next().cloned(),
            "--json" => json = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => {
                eprintln!("decode: unknown argument {other:?}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let out = Output { json };
    match (pcap, hex) {
        (Some(path), None) => decode_pcap(&path, &out),
        (None, Some(hex)) => {
            let protocol = match proto.as_deref().map(str::to_ascii_lowercase).as_deref() {
                Some("asap") => Protocol::Asap,
                Some("enrp") => Protocol::Enrp,
                _ => {
                    eprintln!("decode: --hex needs --proto asap|enrp\n{USAGE}");
                    return ExitCode::from(2);
                }
            };
            match parse_hex(&hex) {
                Ok(bytes) => {
                    for msg in split_messages(&bytes) {
                        out.message(None, protocol, msg);
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("decode: {e}");
                    ExitCode::from(2)
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn decode_pcap(path: &str, out: &Output) -> ExitCode {
    let reader = match PcapReader::open(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("decode: {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    for item in reader {
        match item {
            // The reader splits TCP segments into messages; UDP datagrams
            // and SCTP user messages carry one each.
            Ok(captured) => out.message(Some(&captured), captured.protocol, &captured.bytes),
            Err(e) => {
                eprintln!("decode: {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}

/// Accepts hex digits with optional whitespace, `:`/`-` separators and a
/// leading `0x`.
fn parse_hex(s: &str) -> Result<Vec<u8>, String> {
    let s = s.trim();
    let s = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    let digits: Vec<u8> = s
        .bytes()
        .filter(|b| !b.is_ascii_whitespace() && *b != b':' && *b != b'-')
        .collect();
    if digits.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).map_err(|_| "not hex".to_string())?;
            u8::from_str_radix(text, 16).map_err(|_| format!("{text:?} is not a hex byte"))
        })
        .collect()
}

/// Splits back-to-back messages by their Message Length (rounded up to 4).
/// A length below 4 or past the end leaves the rest as one (malformed)
/// message.
fn split_messages(mut bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let take = match bytes.get(2..4) {
            Some(&[hi, lo]) if u16::from_be_bytes([hi, lo]) >= 4 => {
                (usize::from(u16::from_be_bytes([hi, lo])) + 3) & !3
            }
            _ => bytes.len(),
        }
        .min(bytes.len());
        out.push(&bytes[..take]);
        bytes = &bytes[take..];
    }
    out
}

struct Output {
    json: bool,
}

impl Output {
    fn message(&self, captured: Option<&CapturedMessage>, protocol: Protocol, bytes: &[u8]) {
        let parsed = Message::parse(protocol, bytes);
        let skipped: Vec<(u16, String)> = match parsed {
            Ok(_) => unrecognized_parameters(protocol, bytes)
                .map(|u| (u.param_type, u.action.to_string()))
                .collect(),
            Err(_) => Vec::new(),
        };
        if self.json {
            let mut o = Obj::new();
            if let Some(c) = captured {
                capture_json(&mut o, c);
            }
            o.str("protocol", protocol_name(protocol));
            o.num("length", bytes.len() as i64);
            match &parsed {
                Ok(m) => {
                    o.put("message", message_json(m));
                    if !skipped.is_empty() {
                        let list = skipped
                            .iter()
                            .map(|(t, a)| {
                                let mut u = Obj::new();
                                u.str("type", &format!("0x{t:04x}"));
                                u.str("action", a);
                                u.into()
                            })
                            .collect();
                        o.put("unrecognized_parameters", Json::Arr(list));
                    }
                }
                Err(e) => {
                    o.str("error", &e.to_string());
                    o.str("error_kind", &format!("{e:?}"));
                    if let Some(b) = e.offending_bytes(bytes) {
                        o.str("offending_bytes", &hex(b));
                    }
                    o.str("bytes", &hex(bytes));
                }
            }
            println!("{}", Json::Obj(o.0));
        } else {
            let mut line = String::new();
            if let Some(c) = captured {
                let _ = write!(
                    line,
                    "#{} {} {} > {} {}: ",
                    c.frame,
                    time_text(c),
                    c.src,
                    c.dst,
                    encapsulation_name(c.encapsulation)
                );
            }
            match &parsed {
                Ok(m) => {
                    let _ = write!(line, "{m}");
                    for (t, a) in &skipped {
                        let _ = write!(line, " unrecognized=0x{t:04x}({a})");
                    }
                }
                Err(e) => {
                    let _ = write!(
                        line,
                        "{} error: {e} ({e:?}) bytes={}",
                        protocol_name(protocol),
                        hex(bytes)
                    );
                }
            }
            println!("{line}");
        }
    }
}

fn protocol_name(p: Protocol) -> &'static str {
    match p {
        Protocol::Asap => "ASAP",
        Protocol::Enrp => "ENRP",
    }
}

fn encapsulation_name(e: Encapsulation) -> &'static str {
    match e {
        Encapsulation::Udp => "udp",
        Encapsulation::SctpOverUdp => "sctp",
        Encapsulation::Sctp => "sctp-ip",
        Encapsulation::Tcp => "tcp",
    }
}

fn time_text(c: &CapturedMessage) -> String {
    let d = c.timestamp.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:06}", d.as_secs(), d.subsec_micros())
}

fn capture_json(o: &mut Obj, c: &CapturedMessage) {
    o.num("frame", c.frame as i64);
    o.str("time", &time_text(c));
    o.str("src", &c.src.to_string());
    o.str("dst", &c.dst.to_string());
    o.str("encapsulation", encapsulation_name(c.encapsulation));
}

fn hex(b: &[u8]) -> String {
    b.iter().fmt_hex()
}

trait FmtHex {
    fn fmt_hex(self) -> String;
}

impl<'a, I: Iterator<Item = &'a u8>> FmtHex for I {
    fn fmt_hex(self) -> String {
        let mut s = String::new();
        for b in self {
            let _ = write!(s, "{b:02x}");
        }
        s
    }
}

fn id(v: u32) -> String {
    format!("0x{v:08x}")
}

// ---------------------------------------------------------------------------
// The JSON walk: one function per repr, used for every message.

fn message_json(m: &Message<'_>) -> Json {
    match m {
        Message::Asap(a) => asap_json(a),
        Message::Enrp(e) => enrp_json(e),
    }
}

fn header(o: &mut Obj, name: &str, ty: u8, flags: u8) {
    o.str("type", name);
    o.num("type_id", i64::from(ty));
    o.num("flags", i64::from(flags));
}

fn pool_handle(o: &mut Obj, h: &[u8]) {
    if !h.is_empty() && h.iter().all(|b| (0x20..0x7f).contains(b)) {
        o.str("pool_handle", &String::from_utf8_lossy(h));
    } else {
        o.str("pool_handle_hex", &hex(h));
    }
}

fn asap_json(m: &AsapMessage<'_>) -> Json {
    let mut o = Obj::new();
    header(&mut o, m.name(), m.message_type().into(), m.flags());
    if let Some(h) = m.pool_handle() {
        pool_handle(&mut o, h);
    }
    match m {
        AsapMessage::Registration { pool_element, .. } => {
            o.put("pool_element", element_json(pool_element))
        }
        AsapMessage::Deregistration { pe_id, .. }
        | AsapMessage::EndpointKeepAliveAck { pe_id, .. }
        | AsapMessage::EndpointUnreachable { pe_id, .. } => o.str("pe_id", &id(pe_id.get())),
        AsapMessage::RegistrationResponse {
            rejected,
            pe_id,
            error,
            ..
        } => {
            o.bool("rejected", *rejected);
            o.str("pe_id", &id(pe_id.get()));
            if let Some(e) = error {
                o.put("operation_error", operation_error_json(e));
            }
        }
        AsapMessage::DeregistrationResponse { pe_id, error, .. } => {
            o.str("pe_id", &id(pe_id.get()));
            if let Some(e) = error {
                o.put("operation_error", operation_error_json(e));
            }
        }
        AsapMessage::HandleResolution {
            subscribe, items, ..
        } => {
            o.bool("subscribe", *subscribe);
            if let Some(n) = items {
                o.num("items", i64::from(*n));
            }
        }
        AsapMessage::HandleResolutionResponse {
            accept_updates,
            policy,
            elements,
            error,
            ..
        } => {
            o.bool("accept_updates", *accept_updates);
            if let Some(p) = policy {
                o.put("policy", policy_json(p));
            }
            o.put(
                "pool_elements",
                Json::Arr(elements.iter().map(|e| element_json(&e)).collect()),
            );
            if let Some(e) = error {
                o.put("operation_error", operation_error_json(e));
            }
        }
        AsapMessage::EndpointKeepAlive {
            home,
            server_id,
            pe_id,
            ..
        } => {
            o.bool("home", *home);
            o.str("server_id", &id(server_id.get()));
            if let Some(p) = pe_id {
                o.str("pe_id", &id(p.get()));
            }
        }
        AsapMessage::ServerAnnounce {
            server_id,
            transports,
        } => {
            o.str("server_id", &id(server_id.get()));
            o.put(
                "transports",
                Json::Arr(transports.iter().map(|t| transport_json(&t)).collect()),
            );
        }
        AsapMessage::Cookie { cookie } | AsapMessage::CookieEcho { cookie } => {
            o.str("cookie", &hex(cookie))
        }
        AsapMessage::BusinessCard {
            policy, elements, ..
        } => {
            if let Some(p) = policy {
                o.put("policy", policy_json(p));
            }
            o.put(
                "pool_elements",
                Json::Arr(elements.iter().map(|e| element_json(&e)).collect()),
            );
        }
        AsapMessage::Error { error } => o.put("operation_error", operation_error_json(error)),
    }
    o.into()
}

fn enrp_json(m: &EnrpMessage<'_>) -> Json {
    let mut o = Obj::new();
    header(&mut o, m.name(), m.message_type().into(), m.flags());
    o.str("sender_server_id", &id(m.sender.get()));
    o.str("receiver_server_id", &id(m.receiver.map_or(0, |s| s.get())));
    match &m.body {
        EnrpBody::Presence {
            reply_required,
            checksum,
            server_info,
        } => {
            o.bool("reply_required", *reply_required);
            if let Some(c) = checksum {
                o.str("pe_checksum", &format!("0x{c:04x}"));
            }
            if let Some(s) = server_info {
                let mut si = Obj::new();
                si.str("server_id", &id(s.server_id.get()));
                si.put("transport", transport_json(&s.transport));
                o.put("server_information", si.into());
            }
        }
        EnrpBody::HandleTableRequest { own_children_only } => {
            o.bool("own_children_only", *own_children_only)
        }
        EnrpBody::HandleTableResponse {
            more_to_send,
            rejected,
            entries,
        } => {
            o.bool("more_to_send", *more_to_send);
            o.bool("rejected", *rejected);
            let list = entries
                .iter()
                .map(|e| {
                    let mut p = Obj::new();
                    pool_handle(&mut p, e.pool_handle);
                    p.put(
                        "pool_elements",
                        Json::Arr(e.elements.iter().map(|pe| element_json(&pe)).collect()),
                    );
                    p.into()
                })
                .collect();
            o.put("pool_entries", Json::Arr(list));
        }
        EnrpBody::HandleUpdate {
            takeover_suggested,
            action,
            pool_handle: h,
            pool_element,
        } => {
            o.bool("takeover_suggested", *takeover_suggested);
            o.str("update_action", &action.to_string());
            pool_handle(&mut o, h);
            o.put("pool_element", element_json(pool_element));
        }
        EnrpBody::ListRequest => {}
        EnrpBody::ListResponse { rejected, servers } => {
            o.bool("rejected", *rejected);
            let list = servers
                .iter()
                .map(|s| {
                    let mut si = Obj::new();
                    si.str("server_id", &id(s.server_id.get()));
                    si.put("transport", transport_json(&s.transport));
                    si.into()
                })
                .collect();
            o.put("server_informations", Json::Arr(list));
        }
        EnrpBody::InitTakeover { target }
        | EnrpBody::InitTakeoverAck { target }
        | EnrpBody::TakeoverServer { target } => o.str("target_server_id", &id(target.get())),
        EnrpBody::Error { error } => o.put("operation_error", operation_error_json(error)),
    }
    o.into()
}

fn transport_json(t: &TransportParam<'_>) -> Json {
    let mut o = Obj::new();
    o.str("protocol", t.protocol.name());
    o.num("port", i64::from(t.port));
    o.str(
        "transport_use",
        match t.transport_use.value() {
            0 => "data",
            _ => "data+control",
        },
    );
    if t.protocol == rserpool::addr::TransportProtocol::Dccp {
        o.str("service_code", &id(t.service_code));
    }
    let addrs = t
        .addresses
        .iter()
        .map(|a: IpAddr| Json::Str(a.to_string()))
        .collect();
    o.put("addresses", Json::Arr(addrs));
    o.into()
}

/// The names of a policy's parameters, in wire order.
fn policy_parameter_names(p: &Policy) -> &'static [&'static str] {
    match p {
        Policy::RoundRobin | Policy::Random => &[],
        Policy::WeightedRoundRobin { .. } | Policy::WeightedRandom { .. } => &["weight"],
        Policy::Priority { .. } => &["priority"],
        Policy::LeastUsed { .. } | Policy::RandomizedLeastUsed { .. } => &["load"],
        Policy::LeastUsedDegradation { .. }
        | Policy::PriorityLeastUsed { .. }
        | Policy::RandomizedPriorityLeastUsed { .. }
        | Policy::RandomizedLeastUsedDegradation { .. }
        | Policy::PriorityLeastUsedDegradation { .. }
        | Policy::RandomizedPriorityLeastUsedDegradation { .. } => &["load", "degradation"],
        Policy::WeightedRandomDpf { .. } => &["weight", "weight_dpf", "distance"],
        Policy::LeastUsedDpf { .. } => &["load", "load_dpf", "distance"],
        Policy::LeastUsedDegradationDpf { .. }
        | Policy::PriorityLeastUsedDpf { .. }
        | Policy::PriorityLeastUsedDegradationDpf { .. } => {
            &["load", "degradation", "load_dpf", "distance"]
        }
    }
}

fn policy_json(p: &PolicyParam<'_>) -> Json {
    let mut o = Obj::new();
    let ty = p.policy_type();
    o.str("name", Policy::short_name_of(ty));
    o.num("id", i64::from(ty));
    o.str("id_hex", &id(ty));
    match p {
        PolicyParam::Known(k) => {
            let (values, n) = k.parameters();
            for (name, v) in policy_parameter_names(k).iter().zip(&values[..n]) {
                o.num(name, i64::from(*v));
            }
        }
        PolicyParam::Unknown { data, .. } => o.str("data", &hex(data)),
    }
    o.into()
}

fn element_json(e: &PoolElementParam<'_>) -> Json {
    let mut o = Obj::new();
    o.str("pe_id", &id(e.pe_id.get()));
    o.str("home_server_id", &id(e.home_server.map_or(0, |s| s.get())));
    o.num("registration_life", i64::from(e.registration_life));
    match &e.user_transport {
        UserTransport::Transport(t) => o.put("user_transport", transport_json(t)),
        UserTransport::Opaque(b) => {
            let mut t = Obj::new();
            t.str("protocol", "opaque");
            t.str("data", &hex(b));
            o.put("user_transport", t.into());
        }
    }
    o.put("policy", policy_json(&e.policy));
    if let Some(t) = &e.asap_transport {
        o.put("asap_transport", transport_json(t));
    }
    o.into()
}

fn operation_error_json(e: &OperationError<'_>) -> Json {
    let causes = e
        .causes
        .iter()
        .map(|c| {
            let mut o = Obj::new();
            o.num("code", i64::from(c.code.code()));
            o.str("name", c.code.name());
            match &c.data {
                CauseData::Bytes([]) => {}
                CauseData::Bytes(b) => o.str("info", &hex(b)),
                CauseData::Policy(p) => o.put("policy", policy_json(p)),
                CauseData::Transport(t) => o.put("transport", transport_json(t)),
            }
            o.into()
        })
        .collect();
    Json::Arr(causes)
}

// ---------------------------------------------------------------------------
// A minimal JSON value and writer.

enum Json {
    Bool(bool),
    Num(i64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

struct Obj(Vec<(String, Json)>);

impl Obj {
    fn new() -> Self {
        Obj(Vec::new())
    }
    fn put(&mut self, k: &str, v: Json) {
        self.0.push((k.to_string(), v));
    }
    fn str(&mut self, k: &str, v: &str) {
        self.put(k, Json::Str(v.to_string()));
    }
    fn num(&mut self, k: &str, v: i64) {
        self.put(k, Json::Num(v));
    }
    fn bool(&mut self, k: &str, v: bool) {
        self.put(k, Json::Bool(v));
    }
}

impl From<Obj> for Json {
    fn from(o: Obj) -> Json {
        Json::Obj(o.0)
    }
}

fn write_json_str(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Bool(b) => write!(f, "{b}"),
            Json::Num(n) => write!(f, "{n}"),
            Json::Str(s) => write_json_str(f, s),
            Json::Arr(items) => {
                f.write_char('[')?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_char(']')
            }
            Json::Obj(fields) => {
                f.write_char('{')?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_char(',')?;
                    }
                    write_json_str(f, k)?;
                    write!(f, ":{v}")?;
                }
                f.write_char('}')
            }
        }
    }
}
