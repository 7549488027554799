//! Stateful fuzzing of the sans-IO machines: the fuzzer's bytes are a
//! sequence of steps (a message from one of a few sources, a transport
//! event, a time advance, an application call) that drive a registrar
//! ([`registrar_steps`]) or a pool element ([`pool_element_steps`]) through
//! their public [`Machine`] API. After every step the harness drains all
//! output and checks the machine (see the functions).
//!
//! Messages are mostly *structured*: built with the codec's reprs
//! ([`AsapMessage`], [`EnrpMessage`]) from fuzzer-chosen fields (small sets
//! of pool handles, PE ids, server ids and addresses, so that steps refer to
//! each other), optionally mutated afterwards; the rest are raw bytes or the
//! sample messages of [`super::samples`]. [`Script`] writes inputs step by
//! step (the seed corpus, the regression tests).
//!
//! Shared by the fuzz targets `registrar_steps` and `pool_element_steps` and
//! by the corpus replay of the ordinary tests
//! (`tests/it/registrar/fuzz_steps.rs`).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::cause::CauseCode;
use rserpool::handlespace::Fixed;
use rserpool::pool_element::{OwnedTransport, PoolElement, PoolElementConfig};
use rserpool::registrar::{
    EnrpConfig, Event, PeRecord, Registrar, RegistrarConfig, RemovalReason, ReportRate,
};
use rserpool::storage::RedBlackTree;
use rserpool::transmit::{Connect, Destination, Machine, Source, TransportEvent, MAX_MESSAGE_SIZE};
use rserpool::wire::{
    AsapMessage, EnrpBody, EnrpMessage, ErrorCause, List, Message, OperationError, PolicyParam,
    PoolElementParam, PoolEntry, Protocol, ServerInfoParam, TransportParam, UpdateAction,
    UserTransport,
};
use rserpool::{AssocId, Duration, Instant, PeId, PoolHandle, ServerId};

use super::samples;

/// The most steps one input runs (longer inputs are cut).
pub const MAX_STEPS: usize = 512;

/// The registrar under test: 16 PEs, 4 pools, 16 extra addresses, 4
/// owners; 8 owned PEs, 16 associations, a 4 KiB transmit queue and 8
/// events, so that every "full" path is reachable.
pub type StepRegistrar = Registrar<RedBlackTree, Fixed<16, 4, 16, 4>, 8, 16, 4096, 8>;

/// The registrar's own server id (in the middle, so that peers rank on both
/// sides of it).
pub const ME: u32 = 0x8000_0000;
/// The most PEs the registrar owns (`OWNED` of [`StepRegistrar`]).
pub const OWNED: usize = 8;
/// Per-association quota of the configuration.
pub const PER_ASSOC: usize = 3;
/// Per-host quota of the configuration.
pub const PER_HOST: usize = 4;

/// Server ids the fuzzer picks from (the static peer's, a higher one, a
/// lower one, this registrar's, just below it).
const SERVERS: [u32; 5] = [0x10, 0x9000_0001, 0x20, ME, 0x7FFF_FFFF];
/// Pool handles the fuzzer picks from.
const POOLS: [&[u8]; 3] = [b"P0", b"P1", b"EchoPool"];
/// Small time advances of a message step, in milliseconds.
const SMALL_ADVANCE_MS: [u64; 4] = [0, 0, 10, 300];
/// Time advances of a time step, in milliseconds.
const ADVANCE_MS: [u64; 12] = [
    0, 1, 50, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 100_000, 400_000,
];
/// Registration lives, in milliseconds.
const LIVES: [i32; 8] = [-1, 0, 500, 3_000, 10_000, 60_000, 300_000, i32::MAX];

fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(a, b, c, d))
}

fn sock(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

fn sid(n: u32) -> ServerId {
    ServerId::new(n).unwrap_or(ServerId::new(1).expect("1 is not zero"))
}

fn pe(n: u32) -> PeId {
    PeId::new(n).unwrap_or(PeId::new(1).expect("1 is not zero"))
}

// ----- reading the input ------------------------------------------------

/// The fuzzer's bytes, read front to back; exhausted input reads as zeros.
pub struct Input<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Input<'a> {
    /// Reads `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data, pos: 0 }
    }
    /// Whether every byte is read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.pos.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.pos += n;
        &self.data[start..end]
    }
}

// ----- building messages ------------------------------------------------

/// What message builders need from the harness.
struct Ctx<'s> {
    /// The sending source's IP address (user transports point at it).
    src_ip: IpAddr,
    /// Every source's remote address (ENRP server information, lists).
    remotes: &'s [SocketAddr],
    /// The machine's own pool handle and PE id (pool element target).
    own: Option<(&'static [u8], PeId)>,
    /// The registrar's own PE checksum, for PRESENCE.
    checksum: u16,
}

fn encode(m: &Message<'_>) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; m.buffer_len()];
    let n = m.emit(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn pool<'a>(inp: &mut Input<'a>, ctx: &Ctx<'_>) -> &'a [u8] {
    match inp.u8() {
        255 => {
            let n = usize::from(inp.u8() % 40);
            inp.bytes(n)
        }
        254 => ctx.own.map_or(POOLS[0], |o| o.0),
        b => POOLS[usize::from(b) % POOLS.len()],
    }
}

fn pe_id(inp: &mut Input<'_>, ctx: &Ctx<'_>) -> PeId {
    match inp.u8() {
        255 => pe(inp.u32()),
        254 => ctx.own.map_or(pe(1), |o| o.1),
        b => pe(1 + u32::from(b) % 6),
    }
}

fn server(inp: &mut Input<'_>) -> ServerId {
    match inp.u8() {
        255 => sid(inp.u32()),
        b => sid(SERVERS[usize::from(b) % SERVERS.len()]),
    }
}

/// Builds a Pool Element parameter from the input and hands it to `f`
/// (the parameter borrows locals). `home_choice` picks the home server.
fn with_element<'a, R>(
    inp: &mut Input<'a>,
    ctx: &Ctx<'_>,
    home: [Option<ServerId>; 4],
    f: impl FnOnce(&mut Input<'a>, &PoolElementParam<'_>) -> R,
) -> R {
    let id = pe_id(inp, ctx);
    let life = match inp.u8() {
        255 => inp.u32() as i32,
        b => LIVES[usize::from(b) % LIVES.len()],
    };
    let t = inp.u8();
    let protocol = match t % 8 {
        0..=3 => TransportProtocol::Sctp,
        4 => TransportProtocol::Tcp,
        5 => TransportProtocol::Udp,
        6 => TransportProtocol::UdpLite,
        _ => TransportProtocol::Dccp,
    };
    let transport_use = if t & 8 != 0 {
        TransportUse::DataAndControl
    } else {
        TransportUse::DataOnly
    };
    let port = match inp.u8() {
        0 => 0,
        255 => inp.u16(),
        b => 7000 + u16::from(b % 4),
    };
    let a = inp.u8();
    let foreign = v4(198, 51, 100, 1);
    let v6 = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1));
    let unspecified = v4(0, 0, 0, 0);
    let addrs: &[IpAddr] = match a % 8 {
        0..=2 => &[ctx.src_ip],
        3 => &[unspecified],
        4 => &[foreign],
        5 => &[ctx.src_ip, foreign],
        6 => &[v6],
        _ => &[],
    };
    let addrs: Vec<IpAddr> = addrs.to_vec();
    let mut user = TransportParam::new(protocol, port, transport_use, &addrs);
    if protocol == TransportProtocol::Dccp {
        user.service_code = u32::from(a);
    }
    let p = inp.u8();
    let policy_data;
    let policy = if p >= 240 {
        let ty = inp.u32();
        let n = usize::from(inp.u8() % 12);
        policy_data = inp.bytes(n);
        PolicyParam::Unknown {
            policy_type: ty,
            data: policy_data,
        }
    } else {
        PolicyParam::Known(samples::policy(usize::from(p)))
    };
    let x = inp.u8();
    let asap_addrs = [if x & 4 != 0 { foreign } else { ctx.src_ip }];
    let asap = (x & 3 != 0).then(|| {
        TransportParam::new(
            TransportProtocol::Sctp,
            3863,
            TransportUse::DataOnly,
            &asap_addrs,
        )
    });
    let opaque = x & 0x80 != 0;
    let element = PoolElementParam {
        pe_id: id,
        home_server: home[usize::from(x >> 3) % 4],
        registration_life: life,
        user_transport: if opaque {
            UserTransport::Opaque(b"opaque")
        } else {
            UserTransport::Transport(user)
        },
        policy,
        asap_transport: asap,
    };
    f(inp, &element)
}

fn error_cause(b: u8) -> CauseCode {
    const CODES: [CauseCode; 11] = [
        CauseCode::Unspecified,
        CauseCode::UnrecognizedParameter,
        CauseCode::UnrecognizedMessage,
        CauseCode::InvalidValues,
        CauseCode::NonUniquePeIdentifier,
        CauseCode::InconsistentPoolingPolicy,
        CauseCode::LackOfResources,
        CauseCode::InconsistentTransportType,
        CauseCode::InconsistentDataControlConfiguration,
        CauseCode::UnknownPoolHandle,
        CauseCode::RejectedSecurityConsiderations,
    ];
    CODES[usize::from(b) % CODES.len()]
}

/// The encoded sample messages of [`samples::for_each`], per protocol.
fn sample_bytes(protocol: Protocol) -> &'static [Vec<u8>] {
    static ALL: OnceLock<[Vec<Vec<u8>>; 2]> = OnceLock::new();
    let all = ALL.get_or_init(|| {
        let mut out = [Vec::new(), Vec::new()];
        samples::for_each(&mut |_, m| {
            let i = usize::from(m.protocol() == Protocol::Enrp);
            out[i].push(samples::encode(&m));
        });
        out
    });
    &all[usize::from(protocol == Protocol::Enrp)]
}

/// An ASAP message towards a registrar (the requests a registrar takes,
/// and a few others).
fn asap_to_registrar(inp: &mut Input<'_>, ctx: &Ctx<'_>) -> Vec<u8> {
    let kind = inp.u8();
    let m = match kind % 8 {
        0 | 1 => {
            let handle = pool(inp, ctx);
            let me = Some(sid(ME));
            let other = Some(sid(SERVERS[1]));
            return with_element(inp, ctx, [None, me, other, None], |_, e| {
                encode(&Message::Asap(AsapMessage::Registration {
                    pool_handle: handle,
                    pool_element: *e,
                }))
                .unwrap_or_default()
            });
        }
        2 => AsapMessage::Deregistration {
            pool_handle: pool(inp, ctx),
            pe_id: pe_id(inp, ctx),
        },
        3 => {
            let f = inp.u8();
            let handle = pool(inp, ctx);
            let items = inp.u8();
            AsapMessage::HandleResolution {
                subscribe: f & 1 != 0,
                pool_handle: handle,
                items: (f & 2 != 0).then_some(u32::from(items)),
            }
        }
        4 => AsapMessage::EndpointKeepAliveAck {
            pool_handle: pool(inp, ctx),
            pe_id: pe_id(inp, ctx),
        },
        5 => AsapMessage::EndpointUnreachable {
            pool_handle: pool(inp, ctx),
            pe_id: pe_id(inp, ctx),
        },
        6 => {
            let causes = [ErrorCause::new(error_cause(inp.u8()))];
            return encode(&Message::Asap(AsapMessage::Error {
                error: OperationError::new(&causes),
            }))
            .unwrap_or_default();
        }
        _ => {
            let s = sample_bytes(Protocol::Asap);
            return s[usize::from(inp.u8()) % s.len()].clone();
        }
    };
    encode(&Message::Asap(m)).unwrap_or_default()
}

/// An ASAP message towards a pool element (the answers and requests a
/// registrar or a pool user sends it).
fn asap_to_pool_element(inp: &mut Input<'_>, ctx: &Ctx<'_>) -> Vec<u8> {
    let kind = inp.u8();
    let f = inp.u8();
    let cause = [ErrorCause::new(error_cause(inp.u8()))];
    let error = (f & 2 != 0).then(|| OperationError::new(&cause));
    let m = match kind % 8 {
        0 | 1 => AsapMessage::RegistrationResponse {
            rejected: f & 1 != 0,
            pool_handle: pool(inp, ctx),
            pe_id: pe_id(inp, ctx),
            error,
        },
        2 => AsapMessage::DeregistrationResponse {
            pool_handle: pool(inp, ctx),
            pe_id: pe_id(inp, ctx),
            error,
        },
        3 => {
            let server_id = server(inp);
            let handle = pool(inp, ctx);
            let id = pe_id(inp, ctx);
            AsapMessage::EndpointKeepAlive {
                home: f & 1 != 0,
                server_id,
                pool_handle: handle,
                pe_id: (f & 4 != 0).then_some(id),
            }
        }
        4 => {
            let server_id = server(inp);
            let n = usize::from(inp.u8() % 3);
            let ips: Vec<[IpAddr; 1]> = (0..n)
                .map(|i| [ctx.remotes[(usize::from(f) + i) % ctx.remotes.len()].ip()])
                .collect();
            let ts: Vec<TransportParam<'_>> = ips
                .iter()
                .map(|ip| {
                    let proto = if f & 4 != 0 {
                        TransportProtocol::Tcp
                    } else {
                        TransportProtocol::Sctp
                    };
                    TransportParam::new(proto, 3863, TransportUse::DataOnly, ip)
                })
                .collect();
            return encode(&Message::Asap(AsapMessage::ServerAnnounce {
                server_id,
                transports: List::from_slice(&ts),
            }))
            .unwrap_or_default();
        }
        5 => {
            let bytes = inp.bytes(usize::from(inp_len(f)));
            if f & 1 != 0 {
                AsapMessage::Cookie { cookie: bytes }
            } else {
                AsapMessage::CookieEcho { cookie: bytes }
            }
        }
        6 => AsapMessage::Error {
            error: OperationError::new(&cause),
        },
        _ => {
            let s = sample_bytes(Protocol::Asap);
            return s[usize::from(inp.u8()) % s.len()].clone();
        }
    };
    encode(&Message::Asap(m)).unwrap_or_default()
}

fn inp_len(f: u8) -> u8 {
    f >> 3
}

/// An ENRP message towards the registrar.
fn enrp_message(inp: &mut Input<'_>, ctx: &Ctx<'_>) -> Vec<u8> {
    let sender = server(inp);
    let receiver = match inp.u8() % 4 {
        0 | 1 => None,
        2 => Some(sid(ME)),
        _ => Some(sid(SERVERS[2])),
    };
    let kind = inp.u8();
    let f = inp.u8();
    let home = [
        None,
        Some(sender),
        Some(sid(ME)),
        Some(sid(SERVERS[usize::from(f >> 4) % SERVERS.len()])),
    ];
    let wrap = |body: EnrpBody<'_>| {
        encode(&Message::Enrp(EnrpMessage {
            sender,
            receiver,
            body,
        }))
        .unwrap_or_default()
    };
    match kind % 10 {
        0 => {
            let checksum = if f & 8 != 0 { ctx.checksum } else { inp.u16() };
            let ip = [ctx.src_ip];
            let info_id = if f & 16 != 0 { server(inp) } else { sender };
            wrap(EnrpBody::Presence {
                reply_required: f & 1 != 0,
                checksum: (f & 2 != 0).then_some(checksum),
                server_info: (f & 4 != 0).then(|| ServerInfoParam {
                    server_id: info_id,
                    transport: TransportParam::new(
                        TransportProtocol::Sctp,
                        9901,
                        TransportUse::DataOnly,
                        &ip,
                    ),
                }),
            })
        }
        1 => wrap(EnrpBody::HandleTableRequest {
            own_children_only: f & 1 != 0,
        }),
        2 => {
            let handle = pool(inp, ctx);
            let n = 1 + usize::from(inp.u8() % 3);
            // Each element is encoded alone, then the list is read back
            // from the concatenation (the elements borrow the input).
            let mut elements = Vec::new();
            for _ in 0..n {
                let one = with_element(inp, ctx, home, |_, e| {
                    encode(&Message::Enrp(EnrpMessage {
                        sender,
                        receiver,
                        body: EnrpBody::HandleUpdate {
                            takeover_suggested: false,
                            action: UpdateAction::AddPe,
                            pool_handle: handle,
                            pool_element: *e,
                        },
                    }))
                });
                if let Some(b) = one {
                    elements.push(b);
                }
            }
            let parsed: Vec<PoolElementParam<'_>> = elements
                .iter()
                .filter_map(|b| match EnrpMessage::parse(b) {
                    Ok(EnrpMessage {
                        body: EnrpBody::HandleUpdate { pool_element, .. },
                        ..
                    }) => Some(pool_element),
                    _ => None,
                })
                .collect();
            let entries = [PoolEntry::new(handle, &parsed)];
            let list: &[PoolEntry<'_>] = if parsed.is_empty() { &[] } else { &entries };
            wrap(EnrpBody::HandleTableResponse {
                more_to_send: f & 1 != 0,
                rejected: f & 2 != 0,
                entries: List::from_slice(list),
            })
        }
        3 => {
            let handle = pool(inp, ctx);
            with_element(inp, ctx, home, |_, e| {
                wrap(EnrpBody::HandleUpdate {
                    takeover_suggested: f & 1 != 0,
                    action: if f & 2 != 0 {
                        UpdateAction::DelPe
                    } else {
                        UpdateAction::AddPe
                    },
                    pool_handle: handle,
                    pool_element: *e,
                })
            })
        }
        4 => wrap(EnrpBody::ListRequest),
        5 => {
            let n = usize::from(inp.u8() % 4);
            let picks: Vec<(ServerId, [IpAddr; 1], u16)> = (0..n)
                .map(|_| {
                    let id = server(inp);
                    let r = ctx.remotes[usize::from(inp.u8()) % ctx.remotes.len()];
                    (id, [r.ip()], r.port())
                })
                .collect();
            let infos: Vec<ServerInfoParam<'_>> = picks
                .iter()
                .map(|(id, ip, port)| ServerInfoParam {
                    server_id: *id,
                    transport: TransportParam::new(
                        TransportProtocol::Sctp,
                        *port,
                        TransportUse::DataOnly,
                        ip,
                    ),
                })
                .collect();
            wrap(EnrpBody::ListResponse {
                rejected: f & 1 != 0,
                servers: List::from_slice(&infos),
            })
        }
        6 => wrap(EnrpBody::InitTakeover {
            target: server(inp),
        }),
        7 => wrap(EnrpBody::InitTakeoverAck {
            target: server(inp),
        }),
        8 => wrap(EnrpBody::TakeoverServer {
            target: server(inp),
        }),
        _ => {
            if f & 1 != 0 {
                let causes = [ErrorCause::new(error_cause(f >> 1))];
                wrap(EnrpBody::Error {
                    error: OperationError::new(&causes),
                })
            } else {
                let s = sample_bytes(Protocol::Enrp);
                s[usize::from(inp.u8()) % s.len()].clone()
            }
        }
    }
}

/// Mutates a built message: flip a byte, cut it, append bytes, or set its
/// length field.
fn mutate(inp: &mut Input<'_>, bytes: &mut Vec<u8>) {
    let kind = inp.u8();
    let pos = usize::from(inp.u16());
    let val = inp.u8();
    if bytes.is_empty() {
        bytes.push(val);
        return;
    }
    match kind % 4 {
        0 => {
            let i = pos % bytes.len();
            bytes[i] ^= val | 1;
        }
        1 => bytes.truncate(pos % bytes.len()),
        2 => {
            let n = usize::from(val % 16);
            bytes.extend_from_slice(inp.bytes(n));
        }
        _ => {
            if bytes.len() >= 4 {
                bytes[2..4].copy_from_slice(&(pos as u16).to_be_bytes());
            }
        }
    }
}

/// Whether `RSERPOOL_STEPS_TRACE` is set: the registrar harness then
/// prints every step and what it changed (for diagnosing a crash).
fn trace() -> bool {
    static TRACE: OnceLock<bool> = OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("RSERPOOL_STEPS_TRACE").is_some())
}

// ----- draining and checking output -----------------------------------

/// Takes every queued message out of `m` into `buf`: each one must decode
/// with the crate's own decoder and round-trip. Returns (destination,
/// protocol, bytes) of each.
fn drain_transmits<M: Machine + ?Sized>(
    m: &mut M,
    buf: &mut [u8],
) -> Vec<(Destination, Protocol, Vec<u8>)> {
    let mut out = Vec::new();
    loop {
        let t = match m.poll_transmit(buf) {
            Ok(Some(t)) => t,
            Ok(None) => break,
            Err(e) => panic!("poll_transmit failed with a large enough buffer: {e}"),
        };
        assert!(t.len <= buf.len(), "transmit longer than the buffer");
        let bytes = &buf[..t.len];
        if let Err(e) = Message::parse(t.protocol, bytes) {
            panic!(
                "the machine emitted a {:?} message its own decoder refuses ({e:?}): {bytes:02x?}",
                t.protocol
            );
        }
        super::roundtrip_as(t.protocol, bytes);
        out.push((t.destination, t.protocol, bytes.to_vec()));
        assert!(out.len() <= 4096, "poll_transmit never runs dry");
    }
    out
}

/// Runs the due timers at `now` until the machine's next deadline lies
/// after `now`, draining output between rounds; the deadline must not lie
/// before `now` at any point.
fn run_timers<M: Machine + ?Sized>(
    m: &mut M,
    now: Instant,
    buf: &mut [u8],
    mut sink: impl FnMut(&mut M, Vec<(Destination, Protocol, Vec<u8>)>),
) {
    for _ in 0..64 {
        match m.poll_timeout() {
            Some(t) if t <= now => {
                m.handle_timeout(now);
                let out = drain_transmits(m, buf);
                sink(m, out);
            }
            _ => return,
        }
    }
    panic!(
        "timers at {now:?} never settle: poll_timeout is {:?} after 64 rounds",
        m.poll_timeout()
    );
}

// ----- the registrar harness ------------------------------------------

/// One association or datagram sender the input can speak as.
#[derive(Clone, Copy, Debug)]
struct Src {
    /// The association (`None`: datagrams from `remote`).
    assoc: Option<AssocId>,
    remote: SocketAddr,
    /// The protocol an Up reports by default.
    protocol: Protocol,
}

/// The sources of the registrar target: PEs on hosts 10.0.0.1 (twice,
/// different ports), 10.0.0.2 and 10.0.0.3; the static ENRP peer
/// 10.9.0.1, a host of the allowed network 10.9.1.0/24 and an untrusted
/// host; datagram senders on a PE host, the peer's host and an untrusted
/// host. Answered connects add more (up to [`MAX_SOURCES`]).
fn registrar_sources() -> Vec<Src> {
    let a = |n: u32, ip: IpAddr, port: u16, protocol: Protocol| Src {
        assoc: Some(AssocId(n)),
        remote: sock(ip, port),
        protocol,
    };
    let d = |ip: IpAddr, port: u16| Src {
        assoc: None,
        remote: sock(ip, port),
        protocol: Protocol::Asap,
    };
    vec![
        a(1, v4(10, 0, 0, 1), 5001, Protocol::Asap),
        a(2, v4(10, 0, 0, 1), 5002, Protocol::Asap),
        a(3, v4(10, 0, 0, 2), 5001, Protocol::Asap),
        a(4, v4(10, 0, 0, 3), 6000, Protocol::Asap),
        a(5, v4(10, 9, 0, 1), 9901, Protocol::Enrp),
        a(6, v4(10, 9, 1, 7), 40000, Protocol::Enrp),
        a(7, v4(192, 0, 2, 66), 9901, Protocol::Enrp),
        d(v4(10, 0, 0, 2), 7000),
        d(v4(10, 9, 0, 1), 9901),
        d(v4(203, 0, 113, 5), 3863),
    ]
}

/// The most sources (fixed ones plus answered connects): the
/// registrar's association table (16) never overflows.
const MAX_SOURCES: usize = 16;

/// A PE as the handlespace holds it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Snap {
    record: PeRecord,
    assoc: AssocId,
}

type Key = (Vec<u8>, u32);

/// What one step did, for the ownership model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// An ASAP message from this source.
    Asap(Source),
    /// An ENRP message from this source, trusted or not (by the trust
    /// rules, before the step).
    Enrp { trusted: bool },
    /// Raw bytes of either protocol from this source.
    Raw(Source, Protocol, bool),
    /// Transport event.
    Transport(TransportEvent),
    /// Time passed and the timers ran.
    Timers,
}

/// The registrar harness: the machine, its sources, the time, and the
/// model of who registered what.
struct RegHarness {
    r: Box<StepRegistrar>,
    now: Instant,
    sources: Vec<Src>,
    /// Associations reported up (and not down since).
    up: BTreeMap<u32, SocketAddr>,
    /// Connects asked for and not answered yet.
    connects: Vec<Connect>,
    next_assoc: u32,
    buf: Vec<u8>,
    /// Removal events since the last check.
    removed: Vec<(Key, RemovalReason)>,
    /// Each PE's timer deadline before the step being checked.
    deadlines: BTreeMap<Key, Instant>,
    /// PEs that were bound to an association not reported up (its host
    /// unknown then): they escape the host quota by design (accepted only
    /// with foreign addresses allowed), so the host check leaves them out.
    unhosted: std::collections::BTreeSet<Key>,
    multicast: bool,
}

fn key_of(r: &PeRecord) -> Key {
    (r.pool_handle.as_bytes().to_vec(), r.pe_id.get())
}

impl RegHarness {
    fn new(cfg: u8) -> Self {
        let mut c = RegistrarConfig::rsplib(sid(ME)).with_seed(u64::from(cfg));
        c.max_registrations_per_association = Some(PER_ASSOC as u32);
        c.max_registrations_per_host = Some(PER_HOST as u32);
        c.max_pool_elements = Some(5);
        c.max_bad_pe_reports = 1;
        c.unreachable_rate = ReportRate {
            max_reports: 2,
            window: Duration::from_secs(5),
        };
        c.allow_foreign_addresses = cfg & 1 != 0;
        if cfg & 4 != 0 {
            c.keep_alive_interval = None;
        }
        c.announce = cfg & 8 == 0;
        if cfg & 16 != 0 {
            c.max_registration_life_ms = Some(600_000);
            c.min_registration_life_ms = 100;
        }
        let mut e = EnrpConfig::rsplib(sock(v4(10, 9, 0, 250), 9901))
            .with_peer(sock(v4(10, 9, 0, 1), 9901))
            .with_allowed_peers(v4(10, 9, 1, 0), 24);
        e.multicast = cfg & 2 != 0;
        e.max_peers = 4;
        e.max_sessions = 2;
        e.max_handle_table_elements = 3;
        c.enrp = e;
        let multicast = c.enrp.multicast;
        RegHarness {
            r: Box::new(Registrar::new(c)),
            now: Instant::from_secs(1),
            sources: registrar_sources(),
            up: BTreeMap::new(),
            connects: Vec::new(),
            next_assoc: 100,
            buf: vec![0u8; MAX_MESSAGE_SIZE],
            removed: Vec::new(),
            deadlines: BTreeMap::new(),
            unhosted: Default::default(),
            multicast,
        }
    }

    fn source(&self, i: u8) -> (Source, Src) {
        let s = self.sources[usize::from(i) % self.sources.len()];
        let source = match s.assoc {
            Some(a) => Source::Association(a),
            None => Source::Datagram(s.remote),
        };
        (source, s)
    }

    fn snapshot(&mut self) -> BTreeMap<Key, Snap> {
        let mut out = BTreeMap::new();
        self.deadlines.clear();
        for p in self.r.handlespace().pools() {
            for v in p.elements() {
                let record = PeRecord::from_view(&v);
                if let Some((_, at)) = v.timer() {
                    self.deadlines.insert(key_of(&record), at);
                }
                out.insert(
                    key_of(&record),
                    Snap {
                        record,
                        assoc: v.assoc(),
                    },
                );
            }
        }
        out
    }

    /// Drains transmits, connects and events after machine calls.
    fn drain(&mut self) {
        let out = drain_transmits(&mut *self.r, &mut self.buf);
        self.absorb(out);
    }

    fn absorb(&mut self, _out: Vec<(Destination, Protocol, Vec<u8>)>) {
        while let Some(c) = self.r.poll_connect() {
            if self.connects.len() >= 8 {
                self.connects.remove(0);
            }
            self.connects.push(c);
        }
        while let Some(e) = self.r.poll_event() {
            if let Event::PoolElementRemoved { pe, reason } = e {
                self.removed.push((key_of(&pe), reason));
            }
        }
    }

    fn timers(&mut self) {
        let now = self.now;
        let mut buf = std::mem::take(&mut self.buf);
        let mut outs = Vec::new();
        run_timers(&mut *self.r, now, &mut buf, |_, out| outs.push(out));
        self.buf = buf;
        for out in outs {
            self.absorb(out);
        }
        self.absorb(Vec::new());
    }

    /// Whether the registrar's trust rules may take an ENRP message from
    /// `source` (a superset of what it takes: configured peers' hosts,
    /// the allowed network, hosts of peers in its table, and any datagram
    /// with multicast on).
    fn enrp_trusted(&self, source: Source) -> bool {
        let ip = match source {
            Source::Association(a) => match self.up.get(&a.0) {
                Some(r) => r.ip(),
                None => return false,
            },
            Source::Datagram(addr) => {
                if self.multicast {
                    return true;
                }
                addr.ip()
            }
        };
        let c = &self.r.config().enrp;
        c.static_peers.iter().any(|p| p.ip() == ip)
            || c.allows(ip)
            || self.r.peers().iter().any(|p| {
                p.address.is_some_and(|a| a.ip() == ip)
                    || p.assoc
                        .and_then(|a| self.up.get(&a.0))
                        .is_some_and(|r| r.ip() == ip)
            })
    }

    /// The association `assoc`'s remote host, as reported up.
    fn host(&self, assoc: AssocId) -> Option<IpAddr> {
        self.up.get(&assoc.0).map(|r| r.ip())
    }

    /// Runs one machine call and checks everything afterwards.
    fn checked(&mut self, cause: Cause, f: impl FnOnce(&mut Self)) {
        let before = self.snapshot();
        let deadlines = std::mem::take(&mut self.deadlines);
        self.removed.clear();
        f(self);
        self.drain();
        let after = self.snapshot();
        self.deadlines = deadlines;
        for (k, s) in &after {
            if s.assoc != AssocId::NONE && before.get(k).map(|o| o.assoc) != Some(s.assoc) {
                if self.up.contains_key(&s.assoc.0) {
                    self.unhosted.remove(k);
                } else {
                    self.unhosted.insert(k.clone());
                }
            }
        }
        self.unhosted.retain(|k| after.contains_key(k));
        if trace() {
            eprintln!("at {:?}: {cause:?}", self.now);
            for (k, s) in &after {
                if before.get(k) != Some(s) {
                    eprintln!("    {k:?} now {s:?}");
                }
            }
            for k in before.keys().filter(|k| !after.contains_key(*k)) {
                eprintln!("    {k:?} removed");
            }
        }
        self.check(cause, &before, &after);
    }

    fn check(&self, cause: Cause, before: &BTreeMap<Key, Snap>, after: &BTreeMap<Key, Snap>) {
        let r = &*self.r;
        let me = sid(ME);
        if let Err(e) = r.handlespace().check() {
            panic!("handlespace invariant broken after {cause:?}: {e:?}");
        }
        // Capacity and quotas.
        assert!(
            r.owned_count() <= OWNED,
            "owns {} PEs, more than its capacity {OWNED}",
            r.owned_count()
        );
        assert_eq!(
            r.owned_count(),
            r.handlespace().owned_count(me),
            "owned-PE table and handlespace disagree after {cause:?}"
        );
        let mut per_assoc: BTreeMap<u32, usize> = BTreeMap::new();
        let mut per_host: BTreeMap<IpAddr, usize> = BTreeMap::new();
        for s in after.values() {
            if s.assoc == AssocId::NONE || s.record.home_registrar != Some(me) {
                continue;
            }
            *per_assoc.entry(s.assoc.0).or_default() += 1;
            if let Some(h) = self.host(s.assoc) {
                if !self.unhosted.contains(&key_of(&s.record)) {
                    *per_host.entry(h).or_default() += 1;
                }
            }
        }
        for (a, n) in &per_assoc {
            assert!(
                *n <= PER_ASSOC,
                "{n} PEs over association {a}, quota {PER_ASSOC}"
            );
        }
        for (h, n) in &per_host {
            assert!(*n <= PER_HOST, "{n} PEs from host {h}, quota {PER_HOST}");
        }
        // Time.
        if let Some(t) = r.poll_timeout() {
            assert!(
                t >= self.now,
                "poll_timeout {t:?} lies before now {:?} after {cause:?}",
                self.now
            );
        }
        // A failed association's PEs are gone.
        if let Cause::Transport(
            TransportEvent::Down { assoc } | TransportEvent::SendFailed { assoc },
        ) = cause
        {
            if assoc != AssocId::NONE {
                assert!(
                    after.values().all(|s| s.assoc != assoc),
                    "PEs of failed association {assoc:?} remain"
                );
            }
        }
        // An untrusted ENRP message changes nothing.
        if matches!(
            cause,
            Cause::Enrp { trusted: false } | Cause::Raw(_, Protocol::Enrp, false)
        ) {
            assert_eq!(
                before, after,
                "an ENRP message from an untrusted source changed the handlespace"
            );
        }
        // Ownership: a PE registered here over an association is changed
        // or removed only by that association (or one from the same host,
        // RFC 5355's per-host ownership as the registrar implements it),
        // by its failure, by its lifetime or keep-alive running out, or
        // moved by a trusted peer with a higher id (crossing registrations).
        for (key, old) in before {
            if old.assoc == AssocId::NONE || old.record.home_registrar != Some(me) {
                continue;
            }
            let new = after.get(key);
            if new == Some(old) {
                continue;
            }
            let may = match cause {
                Cause::Asap(Source::Association(a))
                | Cause::Raw(Source::Association(a), Protocol::Asap, _) => {
                    a == old.assoc
                        || (self.host(a).is_some() && self.host(a) == self.host(old.assoc))
                }
                Cause::Transport(
                    TransportEvent::Down { assoc } | TransportEvent::SendFailed { assoc },
                ) => assoc == old.assoc && new.is_none(),
                // Its own timer was due (the removal event may be lost
                // to a full event queue), or it was reported removed for
                // an expiry.
                Cause::Timers => {
                    new.is_none()
                        && (self.deadlines.get(key).is_some_and(|at| *at <= self.now)
                            || self.removed.iter().any(|(k, why)| {
                                k == key
                                    && matches!(
                                        why,
                                        RemovalReason::LifetimeExpired
                                            | RemovalReason::KeepAliveTimeout
                                            | RemovalReason::Unreachable
                                    )
                            }))
                }
                Cause::Enrp { trusted: true } | Cause::Raw(_, Protocol::Enrp, true) => new
                    .is_some_and(|n| {
                        n.assoc == AssocId::NONE && n.record.home_registrar.is_some_and(|h| h > me)
                    }),
                _ => false,
            };
            assert!(
                may,
                "PE {key:?} registered over {:?} was {} by {cause:?} (removals {:?}):\nbefore {old:?}\nafter  {new:?}\n{:?}",
                old.assoc,
                if new.is_some() { "changed" } else { "removed" },
                self.removed,
                r.stats(),
            );
        }
        // A PE gets an association only from a message over it, or when
        // an association the registrar opened to it comes up.
        for (key, new) in after {
            if new.assoc == AssocId::NONE || before.get(key).is_some_and(|o| o.assoc == new.assoc) {
                continue;
            }
            let ok = match cause {
                Cause::Asap(Source::Association(a))
                | Cause::Raw(Source::Association(a), Protocol::Asap, _) => a == new.assoc,
                Cause::Transport(TransportEvent::Up { assoc, .. }) => assoc == new.assoc,
                _ => false,
            };
            assert!(ok, "PE {key:?} bound to {:?} by {cause:?}", new.assoc);
        }
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now.saturating_add(Duration::from_millis(ms));
        self.checked(Cause::Timers, |h| h.timers());
    }

    fn deliver(&mut self, source: Source, protocol: Protocol, bytes: &[u8], cause: Cause) {
        let now = self.now;
        self.checked(cause, |h| h.r.handle(now, source, protocol, bytes));
        // Zero-delay timers the message set.
        self.advance(0);
    }

    fn transport(&mut self, ev: TransportEvent) {
        match ev {
            TransportEvent::Up { assoc, remote, .. } => {
                self.up.insert(assoc.0, remote);
            }
            TransportEvent::Down { assoc } => {
                self.up.remove(&assoc.0);
            }
            _ => {}
        }
        let now = self.now;
        self.checked(Cause::Transport(ev), |h| {
            h.r.handle_transport_event(now, ev)
        });
        self.advance(0);
    }

    fn step(&mut self, inp: &mut Input<'_>) {
        let op = inp.u8();
        let small = SMALL_ADVANCE_MS[usize::from(op >> 4) & 3];
        let mutated = op & 0x40 != 0;
        match op & 0x0F {
            k @ 0..=9 => {
                if small > 0 {
                    self.advance(small);
                }
                let (source, src) = self.source(inp.u8());
                let remotes: Vec<SocketAddr> = self.sources.iter().map(|s| s.remote).collect();
                let ctx = Ctx {
                    src_ip: src.remote.ip(),
                    remotes: &remotes,
                    own: None,
                    checksum: self.r.own_checksum(),
                };
                let (protocol, mut bytes) = if k <= 6 {
                    (Protocol::Asap, asap_to_registrar(inp, &ctx))
                } else {
                    (Protocol::Enrp, enrp_message(inp, &ctx))
                };
                if mutated {
                    mutate(inp, &mut bytes);
                }
                let cause = match protocol {
                    Protocol::Asap if mutated => Cause::Raw(source, protocol, false),
                    Protocol::Asap => Cause::Asap(source),
                    Protocol::Enrp => {
                        let trusted = self.enrp_trusted(source);
                        if mutated {
                            Cause::Raw(source, protocol, trusted)
                        } else {
                            Cause::Enrp { trusted }
                        }
                    }
                };
                self.deliver(source, protocol, &bytes, cause);
            }
            10 => {
                let (source, _) = self.source(inp.u8());
                let p = inp.u8();
                let protocol = if p & 1 != 0 {
                    Protocol::Enrp
                } else {
                    Protocol::Asap
                };
                let bytes = inp.bytes(usize::from(p >> 1)).to_vec();
                let trusted = protocol == Protocol::Enrp && self.enrp_trusted(source);
                self.deliver(
                    source,
                    protocol,
                    &bytes,
                    Cause::Raw(source, protocol, trusted),
                );
            }
            11 | 12 => {
                let (_, src) = self.source(inp.u8());
                let e = inp.u8();
                let Some(assoc) = src.assoc else {
                    self.transport(TransportEvent::ConnectFailed { remote: src.remote });
                    return;
                };
                let ev = match e % 4 {
                    0 | 1 => TransportEvent::Up {
                        assoc,
                        remote: src.remote,
                        protocol: if e & 4 != 0 {
                            other(src.protocol)
                        } else {
                            src.protocol
                        },
                        // Some paths unverified (UDP), so that answers are
                        // held to the return-routability limit.
                        verified: e & 8 == 0,
                    },
                    2 => TransportEvent::Down { assoc },
                    _ => TransportEvent::SendFailed { assoc },
                };
                self.transport(ev);
            }
            13 => {
                let i = inp.u8();
                if self.connects.is_empty() {
                    return;
                }
                let c = self.connects.remove(usize::from(i) % self.connects.len());
                if i & 0x80 != 0 || self.sources.len() >= MAX_SOURCES {
                    self.transport(TransportEvent::ConnectFailed { remote: c.remote });
                } else {
                    // Reuse the source of that address if there is one.
                    let known = self
                        .sources
                        .iter()
                        .find(|s| s.remote == c.remote && s.assoc.is_some())
                        .and_then(|s| s.assoc);
                    let assoc = match known {
                        Some(a) => a,
                        None => {
                            let a = AssocId(self.next_assoc);
                            self.next_assoc += 1;
                            self.sources.push(Src {
                                assoc: Some(a),
                                remote: c.remote,
                                protocol: c.protocol,
                            });
                            a
                        }
                    };
                    self.transport(TransportEvent::Up {
                        assoc,
                        remote: c.remote,
                        protocol: c.protocol,
                        verified: true,
                    });
                }
            }
            _ => {
                let b = inp.u8();
                self.advance(ADVANCE_MS[usize::from(b) % ADVANCE_MS.len()]);
            }
        }
    }
}

fn other(p: Protocol) -> Protocol {
    match p {
        Protocol::Asap => Protocol::Enrp,
        Protocol::Enrp => Protocol::Asap,
    }
}

/// Target `registrar_steps`: the first byte picks the configuration
/// (bit 0 foreign user addresses allowed, bit 1 ENRP multicast, bit 2
/// keep-alive off, bit 3 announcing off, bit 4 registration life limits),
/// then steps until the input ends. After every step: the handlespace's
/// [`check`](rserpool::handlespace::Handlespace::check), every transmit
/// decodes (and round-trips), owned PEs within the capacity and the
/// per-association and per-host quotas, the owned-PE table agrees with the
/// handlespace, `poll_timeout` never before now and due timers settle, an
/// untrusted ENRP message changes nothing, and the ownership model: a PE
/// registered over an association is changed or removed only by that
/// association (or another from the same host), its failure, its lifetime
/// or keep-alive running out, or a trusted peer with a higher server id.
pub fn registrar_steps(data: &[u8]) {
    let mut inp = Input::new(data);
    let mut h = RegHarness::new(inp.u8());
    h.advance(0);
    let mut n = 0;
    while !inp.is_empty() && n < MAX_STEPS {
        h.step(&mut inp);
        n += 1;
    }
    if trace() {
        eprintln!("{n} steps; {:?}", h.r.stats());
        eprintln!("{:?}", h.r.enrp_stats());
        eprintln!("peers {:?}", h.r.peers());
    }
}

// ----- the pool element harness ---------------------------------------

/// The pool element's configured registrars.
const PE_REGISTRARS: [(u8, u16); 2] = [(1, 3863), (2, 3863)];
const PE_POOL: &[u8] = b"EchoPool";
const PE_ID: u32 = 7;

struct PeHarness {
    pe: PoolElement,
    now: Instant,
    sources: Vec<Src>,
    connects: Vec<Connect>,
    next_assoc: u32,
    buf: Vec<u8>,
    /// The last REGISTRATION or DEREGISTRATION sent, and where.
    last_request: Option<(Destination, bool)>,
}

fn pe_sources() -> Vec<Src> {
    vec![
        Src {
            assoc: Some(AssocId(50)),
            remote: sock(v4(10, 1, 0, 1), 3863),
            protocol: Protocol::Asap,
        },
        Src {
            assoc: Some(AssocId(51)),
            remote: sock(v4(10, 3, 0, 9), 40000),
            protocol: Protocol::Asap,
        },
        Src {
            assoc: None,
            remote: sock(v4(10, 1, 0, 3), 3863),
            protocol: Protocol::Asap,
        },
        Src {
            assoc: None,
            remote: sock(v4(10, 1, 0, 1), 3863),
            protocol: Protocol::Asap,
        },
    ]
}

impl PeHarness {
    fn new(cfg: u8) -> Self {
        let user = OwnedTransport::new(
            TransportProtocol::Sctp,
            7000,
            TransportUse::DataOnly,
            &[v4(10, 2, 0, 1)],
        )
        .expect("valid transport");
        let handle = PoolHandle::new(PE_POOL).expect("pool handle");
        let mut c = if cfg & 1 != 0 {
            PoolElementConfig::rfc(handle, user)
        } else {
            PoolElementConfig::rsplib(handle, user)
        };
        c.pe_id = Some(pe(PE_ID));
        c.seed = u64::from(cfg);
        for (n, port) in PE_REGISTRARS {
            let _ = c.registrars.push(sock(v4(10, 1, 0, n), port));
        }
        if cfg & 2 != 0 {
            c.registration_retry = None;
        }
        if cfg & 4 != 0 {
            c.registration_life = Duration::from_secs(5);
        }
        if cfg & 8 != 0 {
            c.max_reg_attempt = 1;
            c.max_request_retransmit = 0;
        }
        PeHarness {
            pe: PoolElement::new(c).expect("valid configuration"),
            now: Instant::from_secs(1),
            sources: pe_sources(),
            connects: Vec::new(),
            next_assoc: 1,
            buf: vec![0u8; MAX_MESSAGE_SIZE],
            last_request: None,
        }
    }

    fn absorb(&mut self, out: Vec<(Destination, Protocol, Vec<u8>)>) {
        let own = PoolHandle::new(PE_POOL).expect("pool handle");
        for (dest, protocol, bytes) in out {
            assert_eq!(protocol, Protocol::Asap, "a pool element speaks ASAP only");
            let m = AsapMessage::parse(&bytes).expect("checked by drain");
            match m {
                AsapMessage::Registration {
                    pool_handle,
                    pool_element,
                } => {
                    assert_eq!(pool_handle, own.as_bytes(), "registers another pool");
                    assert_eq!(pool_element.pe_id, pe(PE_ID), "registers another PE");
                    self.last_request = Some((dest, true));
                }
                AsapMessage::Deregistration { pool_handle, pe_id } => {
                    assert_eq!(pool_handle, own.as_bytes(), "deregisters another pool");
                    assert_eq!(pe_id, pe(PE_ID), "deregisters another PE");
                    self.last_request = Some((dest, false));
                }
                AsapMessage::EndpointKeepAliveAck { pe_id, .. } => {
                    assert_eq!(pe_id, pe(PE_ID), "acknowledges for another PE");
                }
                _ => {}
            }
        }
        while let Some(c) = self.pe.poll_connect() {
            assert_eq!(
                c.protocol,
                Protocol::Asap,
                "a pool element connects for ASAP"
            );
            if self.connects.len() >= 8 {
                self.connects.remove(0);
            }
            self.connects.push(c);
        }
        while self.pe.poll_event().is_some() {}
    }

    fn after(&mut self) {
        let out = drain_transmits(&mut self.pe, &mut self.buf);
        self.absorb(out);
        if let Some(t) = self.pe.poll_timeout() {
            assert!(
                t >= self.now,
                "poll_timeout {t:?} lies before now {:?}",
                self.now
            );
        }
        self.timers();
    }

    fn timers(&mut self) {
        let now = self.now;
        let mut buf = std::mem::take(&mut self.buf);
        let mut outs = Vec::new();
        run_timers(&mut self.pe, now, &mut buf, |_, out| outs.push(out));
        self.buf = buf;
        for out in outs {
            self.absorb(out);
        }
        self.absorb(Vec::new());
    }

    fn advance(&mut self, ms: u64) {
        self.now = self.now.saturating_add(Duration::from_millis(ms));
        self.timers();
    }

    fn step(&mut self, inp: &mut Input<'_>) {
        let op = inp.u8();
        let small = SMALL_ADVANCE_MS[usize::from(op >> 4) & 3];
        let now = self.now;
        match op & 0x0F {
            0..=5 => {
                if small > 0 {
                    self.advance(small);
                }
                let s = self.sources[usize::from(inp.u8()) % self.sources.len()];
                let remotes: Vec<SocketAddr> = self.sources.iter().map(|s| s.remote).collect();
                let ctx = Ctx {
                    src_ip: s.remote.ip(),
                    remotes: &remotes,
                    own: Some((PE_POOL, pe(PE_ID))),
                    checksum: 0,
                };
                let mut bytes = asap_to_pool_element(inp, &ctx);
                if op & 0x40 != 0 {
                    mutate(inp, &mut bytes);
                }
                let source = match s.assoc {
                    Some(a) => Source::Association(a),
                    None => Source::Datagram(s.remote),
                };
                let protocol = if op & 0x80 != 0 && op & 0x40 != 0 {
                    Protocol::Enrp
                } else {
                    Protocol::Asap
                };
                self.pe.handle(self.now, source, protocol, &bytes);
            }
            6 => {
                // The home registrar answers the last request.
                let f = inp.u8();
                let Some((Destination::Association(a), register)) = self.last_request else {
                    return;
                };
                let cause = [ErrorCause::new(error_cause(f >> 2))];
                let error = (f & 1 != 0).then(|| OperationError::new(&cause));
                let m = if register {
                    AsapMessage::RegistrationResponse {
                        rejected: error.is_some() && f & 2 != 0,
                        pool_handle: PE_POOL,
                        pe_id: pe(PE_ID),
                        error,
                    }
                } else {
                    AsapMessage::DeregistrationResponse {
                        pool_handle: PE_POOL,
                        pe_id: pe(PE_ID),
                        error,
                    }
                };
                let bytes = encode(&Message::Asap(m)).unwrap_or_default();
                self.pe
                    .handle(now, Source::Association(a), Protocol::Asap, &bytes);
            }
            7 | 8 => {
                let i = inp.u8();
                let e = inp.u8();
                if e & 1 == 0 && !self.connects.is_empty() {
                    let c = self.connects.remove(usize::from(i) % self.connects.len());
                    let ev = if e & 2 != 0 {
                        TransportEvent::ConnectFailed { remote: c.remote }
                    } else {
                        let a = AssocId(self.next_assoc);
                        self.next_assoc += 1;
                        if self.sources.len() < MAX_SOURCES {
                            self.sources.push(Src {
                                assoc: Some(a),
                                remote: c.remote,
                                protocol: c.protocol,
                            });
                        }
                        TransportEvent::Up {
                            assoc: a,
                            remote: c.remote,
                            protocol: c.protocol,
                            verified: true,
                        }
                    };
                    self.pe.handle_transport_event(now, ev);
                } else {
                    let s = self.sources[usize::from(i) % self.sources.len()];
                    let ev = match (s.assoc, e % 4) {
                        (None, _) => TransportEvent::ConnectFailed { remote: s.remote },
                        (Some(assoc), 0 | 1) => TransportEvent::Up {
                            assoc,
                            remote: s.remote,
                            protocol: s.protocol,
                            verified: e & 8 == 0,
                        },
                        (Some(assoc), 2) => TransportEvent::Down { assoc },
                        (Some(assoc), _) => TransportEvent::SendFailed { assoc },
                    };
                    self.pe.handle_transport_event(now, ev);
                }
            }
            9 | 10 => {
                let a = inp.u8();
                match a % 4 {
                    0 | 1 => self.pe.register(now),
                    2 => {
                        let _ = self.pe.deregister(now);
                    }
                    _ => self
                        .pe
                        .set_policy(now, samples::policy(usize::from(a >> 2))),
                }
            }
            11 => {
                let (_, s) = (0, self.sources[usize::from(inp.u8()) % self.sources.len()]);
                let n = usize::from(inp.u8() % 64);
                let bytes = inp.bytes(n).to_vec();
                let source = match s.assoc {
                    Some(a) => Source::Association(a),
                    None => Source::Datagram(s.remote),
                };
                self.pe.handle(now, source, Protocol::Asap, &bytes);
            }
            _ => {
                let b = inp.u8();
                self.advance(ADVANCE_MS[usize::from(b) % ADVANCE_MS.len()]);
            }
        }
        self.after();
    }
}

/// Target `pool_element_steps`: the first byte picks the configuration
/// (bit 0 RFC instead of rsplib profile, bit 1 no registration retry, bit
/// 2 a 5 s registration life, bit 3 a single registration attempt), then
/// steps: messages from registrar associations and datagram senders
/// (registration and deregistration responses naming this PE or another,
/// keep-alives, server announces, cookies, errors, samples, raw bytes),
/// answers to its connects, association events, the application's
/// register/deregister/set_policy, the home registrar answering the last
/// request, time. After every step: every transmit decodes (ASAP only),
/// requests and keep-alive acks name this PE and pool, `poll_timeout` never
/// before now and due timers settle.
pub fn pool_element_steps(data: &[u8]) {
    let mut inp = Input::new(data);
    let mut h = PeHarness::new(inp.u8());
    h.pe.register(h.now);
    h.after();
    let mut n = 0;
    while !inp.is_empty() && n < MAX_STEPS {
        h.step(&mut inp);
        n += 1;
        if trace() {
            eprintln!(
                "at {:?}: registered {} home {:?} attempts {}",
                h.now,
                h.pe.is_registered(),
                h.pe.home(),
                h.pe.registration_attempts()
            );
        }
    }
}

// ----- writing inputs -------------------------------------------------

/// Writes step inputs byte by byte, for seeds and regression tests (the
/// layout is the one the step functions read).
#[derive(Clone, Debug, Default)]
pub struct Script(pub Vec<u8>);

impl Script {
    /// A script whose configuration byte is `cfg`.
    pub fn new(cfg: u8) -> Self {
        Script(vec![cfg])
    }
    /// Appends raw bytes.
    pub fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    /// Registrar: REGISTRATION from source `src` into pool index `pool`
    /// of PE `1 + pe` with life index `life`, the user transport at the
    /// source's own address, policy `policy`, no ASAP transport.
    pub fn register(self, src: u8, pool: u8, pe: u8, life: u8, policy: u8) -> Self {
        self.raw(&[0, src, 0, pool, pe, life, 0, 1, 0, policy, 0])
    }
    /// Registrar: DEREGISTRATION from `src`.
    pub fn deregister(self, src: u8, pool: u8, pe: u8) -> Self {
        self.raw(&[0, src, 2, pool, pe])
    }
    /// Registrar: HANDLE_RESOLUTION from `src`.
    pub fn resolve(self, src: u8, pool: u8) -> Self {
        self.raw(&[0, src, 3, 0, pool, 0])
    }
    /// Registrar: ENDPOINT_KEEP_ALIVE_ACK from `src`.
    pub fn keep_alive_ack(self, src: u8, pool: u8, pe: u8) -> Self {
        self.raw(&[0, src, 4, pool, pe])
    }
    /// Registrar: ENDPOINT_UNREACHABLE from `src`.
    pub fn unreachable(self, src: u8, pool: u8, pe: u8) -> Self {
        self.raw(&[0, src, 5, pool, pe])
    }
    /// Registrar: association `src` up (its default protocol).
    pub fn up(self, src: u8) -> Self {
        self.raw(&[11, src, 0])
    }
    /// Registrar: association `src` down.
    pub fn down(self, src: u8) -> Self {
        self.raw(&[11, src, 2])
    }
    /// Registrar: SEND.FAILED on association `src`.
    pub fn send_failed(self, src: u8) -> Self {
        self.raw(&[11, src, 3])
    }
    /// Registrar: answer the oldest connect asked for (`ok`: up).
    pub fn answer_connect(self, ok: bool) -> Self {
        self.raw(&[13, if ok { 0 } else { 0x80 }])
    }
    /// Time advance by [`ADVANCE_MS`]`[i]` (both targets).
    pub fn wait(self, i: u8) -> Self {
        self.raw(&[14, i])
    }
    /// Registrar: ENRP message from `src`, sender index `sender`, receiver
    /// none, body `kind` with flags `f`, then body bytes `rest`.
    pub fn enrp(self, src: u8, sender: u8, kind: u8, f: u8, rest: &[u8]) -> Self {
        self.raw(&[7, src, sender, 0, kind, f]).raw(rest)
    }
    /// Pool element: a message built by kind `kind` with flags `f`, cause
    /// `cause`, then `rest`, from source `src`.
    pub fn pe_message(self, src: u8, kind: u8, f: u8, cause: u8, rest: &[u8]) -> Self {
        self.raw(&[0, src, kind, f, cause]).raw(rest)
    }
    /// Pool element: answer the oldest connect (`ok`: up).
    pub fn pe_answer(self, ok: bool) -> Self {
        self.raw(&[7, 0, if ok { 0 } else { 2 }])
    }
    /// Pool element: the home registrar answers the last request with
    /// flags `f` (bit 0 error, bit 1 rejected).
    pub fn pe_reply(self, f: u8) -> Self {
        self.raw(&[6, f])
    }
    /// Pool element: application call `a` (0 register, 2 deregister, 3
    /// set_policy).
    pub fn pe_app(self, a: u8) -> Self {
        self.raw(&[9, a])
    }
}

/// The seed inputs of both targets: (target, name, bytes).
pub fn seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut reg = |name: &str, s: Script| out.push(("registrar_steps", name.to_string(), s.0));
    // One PE over association 0: resolution, keep-alive ack, deregistration.
    reg(
        "register_resolve_deregister",
        Script::new(0)
            .up(0)
            .register(0, 0, 0, 6, 0)
            .resolve(7, 0)
            .keep_alive_ack(0, 0, 0)
            .deregister(1, 0, 0)
            .deregister(2, 0, 0)
            .deregister(0, 0, 0),
    );
    // Quotas: four PEs over one association, two more over the same host,
    // then the second host; the owned table (8) fills.
    let mut s = Script::new(8).up(0).up(1).up(2).up(3);
    for pe in 0..4 {
        s = s.register(0, 0, pe, 6, pe);
    }
    for pe in 0..4 {
        s = s.register(1, 1, pe, 6, 3);
    }
    for pe in 0..6 {
        s = s.register(2, 2, pe, 6, 5).register(3, 0, pe, 6, 1);
    }
    reg("quotas_and_capacity", s.resolve(9, 0).resolve(9, 1));
    // Other sources try to take a PE over: a second host, ENDPOINT_UNREACHABLE
    // from every source, then keep-alives run out.
    reg(
        "hijack_attempts_and_keep_alive",
        Script::new(0)
            .up(0)
            .up(1)
            .up(2)
            .register(0, 0, 0, 6, 0)
            .register(2, 0, 0, 6, 0)
            .deregister(2, 0, 0)
            .unreachable(2, 0, 0)
            .unreachable(7, 0, 0)
            .unreachable(9, 0, 0)
            .unreachable(2, 0, 0)
            .wait(5)
            .keep_alive_ack(1, 0, 0)
            .wait(6)
            .wait(7)
            .wait(9),
    );
    // Transport failures and lifetimes.
    reg(
        "down_send_failed_lifetime",
        Script::new(4)
            .up(0)
            .up(2)
            .register(0, 0, 0, 2, 0)
            .register(0, 0, 1, 0, 0)
            .register(2, 1, 2, 6, 0)
            .send_failed(2)
            .register(2, 1, 2, 3, 0)
            .down(0)
            .wait(4)
            .wait(8),
    );
    // ENRP: the static peer comes up (asked for by the registrar), sends a
    // PRESENCE, a HANDLE_UPDATE and a table; the untrusted host tries the
    // same; a takeover.
    let pe_param = [0u8, 6, 0, 1, 0, 0, 8];
    reg(
        "enrp_peer_updates_and_takeover",
        Script::new(8)
            .answer_connect(true)
            .up(4)
            .up(5)
            .up(6)
            .up(0)
            .register(0, 0, 0, 6, 0)
            .enrp(4, 0, 0, 0b111, &[0, 0])
            .enrp(4, 0, 3, 0, &[0])
            .raw(&pe_param)
            .enrp(6, 0, 3, 0, &[0])
            .raw(&pe_param)
            .enrp(5, 1, 3, 0, &[0])
            .raw(&[0, 6, 0, 1, 0, 0, 0])
            .enrp(4, 0, 2, 0, &[1, 1])
            .raw(&pe_param)
            .raw(&[3, 6, 0, 1, 0, 0, 8])
            .enrp(4, 0, 1, 0, &[])
            .enrp(4, 0, 4, 0, &[])
            .enrp(4, 0, 5, 0, &[2, 1, 5, 2, 6])
            .enrp(5, 1, 6, 0, &[0])
            .enrp(4, 0, 8, 0, &[1])
            .enrp(6, 2, 6, 0, &[1])
            .wait(7)
            .wait(9)
            .wait(10),
    );
    // Raw and mutated input, datagrams, connects that fail.
    reg(
        "raw_mutated_datagrams",
        Script::new(3)
            .up(0)
            .raw(&[0x40, 0, 0, 0, 0, 6, 0, 1, 0, 0, 0, 1, 0, 3, 0])
            .raw(&[10, 0, 8, 1, 0, 0, 4])
            .raw(&[10, 8, 9, 1, 0, 0, 4, 0])
            .register(7, 0, 0, 6, 0)
            .enrp(8, 0, 0, 0b1111, &[])
            .enrp(9, 1, 0, 0b0111, &[])
            .answer_connect(false)
            .wait(6),
    );
    // Pool element: hunt, registration accepted, keep-alive, announce,
    // re-registration, deregistration.
    let mut pe = |name: &str, s: Script| out.push(("pool_element_steps", name.to_string(), s.0));
    pe(
        "register_keep_alive_deregister",
        Script::new(0)
            .pe_answer(true)
            .pe_reply(0)
            .pe_message(4, 3, 5, 0, &[0, 254, 254])
            .pe_message(2, 4, 0, 0, &[0, 2])
            .wait(8)
            .pe_reply(0)
            .pe_app(2)
            .pe_reply(0),
    );
    pe(
        "rejections_and_failures",
        Script::new(2)
            .pe_answer(false)
            .wait(7)
            .pe_answer(true)
            .pe_reply(0b111)
            .pe_app(0)
            .pe_reply(1)
            .pe_message(4, 0, 1, 6, &[254, 254])
            .pe_message(4, 2, 2, 9, &[254, 254])
            .raw(&[7, 4, 2])
            .wait(9),
    );
    pe(
        "short_life_single_attempt",
        Script::new(12)
            .pe_answer(true)
            .wait(6)
            .pe_reply(0)
            .wait(6)
            .wait(9)
            .pe_app(3)
            .pe_reply(0)
            .pe_message(0, 5, 0x31, 0, b"cookie")
            .pe_message(0, 7, 0, 0, &[5]),
    );
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_run() {
        for (target, _, bytes) in super::seeds() {
            match target {
                "registrar_steps" => super::registrar_steps(&bytes),
                _ => super::pool_element_steps(&bytes),
            }
        }
    }
}
