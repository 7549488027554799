//! Shared helpers of the ENRP tests: a registrar with ENRP on, hand-built
//! ENRP messages, and a drain that parses every transmit back.

pub use super::registrar::*;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::registrar::{EnrpConfig, EnrpEvent, Event, RegistrarConfig};
use rserpool::transmit::{Destination, Machine, Source, Transmit, TransportEvent};
use rserpool::wire::{
    AsapMessage, EnrpBody, EnrpMessage, List, PoolElementParam, Protocol, ServerInfoParam,
    TransportParam, UpdateAction,
};
use rserpool::{AssocId, Instant, ServerId};

pub const T0: Instant = Instant::from_secs(1_000);

pub fn sid(n: u32) -> ServerId {
    ServerId::new(n).unwrap()
}

pub fn me() -> ServerId {
    server_id()
}

/// The ENRP address of peer `n`.
pub fn peer_addr(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 0, n)), 9901)
}

pub fn local_addr() -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 250)), 9901)
}

/// rsplib ASAP profile (announce off) with the rsplib ENRP profile and the
/// given static peers.
pub fn enrp_config(peers: &[SocketAddr]) -> RegistrarConfig {
    let mut c = config();
    // Peers of the tests live in 10.9.0.0/24.
    let mut e = EnrpConfig::rsplib(local_addr())
        .with_allowed_peers(IpAddr::V4(Ipv4Addr::new(10, 9, 0, 0)), 24);
    for p in peers {
        e = e.with_peer(*p);
    }
    c.enrp = e;
    c
}

/// An ENRP association `assoc` up to `remote`.
pub fn enrp_up(r: &mut TestRegistrar, now: Instant, assoc: u32, remote: SocketAddr) {
    r.handle_transport_event(
        now,
        TransportEvent::Up {
            assoc: AssocId(assoc),
            remote,
            protocol: Protocol::Enrp,
            verified: true,
        },
    );
}

pub fn emit_enrp(m: &EnrpMessage<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; m.buffer_len()];
    let n = m.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// The bytes of an ENRP message from `sender` to no one in particular
/// (for the simulator's and the runtime's areas).
#[allow(dead_code)]
pub fn enrp_from(sender: ServerId, body: EnrpBody<'_>) -> Vec<u8> {
    emit_enrp(&EnrpMessage {
        sender,
        receiver: None,
        body,
    })
}

/// Delivers `body` from peer `from` over association `assoc`; an
/// association the registrar has not seen comes up first, from peer
/// `from`'s host (10.9.0.x, trusted by [`enrp_config`]) at an ephemeral port.
pub fn deliver(r: &mut TestRegistrar, now: Instant, assoc: u32, from: u32, body: EnrpBody<'_>) {
    if r.association_remote(AssocId(assoc)).is_none() {
        let remote = SocketAddr::new(peer_addr(from as u8).ip(), 40_000);
        enrp_up(r, now, assoc, remote);
    }
    let m = EnrpMessage {
        sender: sid(from),
        receiver: None,
        body,
    };
    r.handle(now, src(assoc), Protocol::Enrp, &emit_enrp(&m));
}

pub fn presence_body(checksum: u16, reply: bool) -> EnrpBody<'static> {
    EnrpBody::Presence {
        reply_required: reply,
        checksum: Some(checksum),
        server_info: None,
    }
}

/// A PRESENCE from `from` with Server Information naming `addr`.
pub fn presence_with_info(
    r: &mut TestRegistrar,
    now: Instant,
    source: Source,
    from: u32,
    addr: SocketAddr,
    checksum: u16,
    reply: bool,
) {
    let ip = [addr.ip()];
    let m = EnrpMessage {
        sender: sid(from),
        receiver: None,
        body: EnrpBody::Presence {
            reply_required: reply,
            checksum: Some(checksum),
            server_info: Some(ServerInfoParam {
                server_id: sid(from),
                transport: TransportParam::new(
                    TransportProtocol::Sctp,
                    addr.port(),
                    TransportUse::DataOnly,
                    &ip,
                ),
            }),
        },
    };
    r.handle(now, source, Protocol::Enrp, &emit_enrp(&m));
}

/// Every queued message, as (transmit, bytes); each parses back.
pub fn drain_all(r: &mut TestRegistrar) -> Vec<(Transmit, Vec<u8>)> {
    super::machine::transmits(r)
}

/// The queued ENRP messages only (ASAP ones are checked and dropped).
pub fn drain_enrp(r: &mut TestRegistrar) -> Vec<(Destination, Vec<u8>)> {
    drain_all(r)
        .into_iter()
        .filter(|(t, _)| t.protocol == Protocol::Enrp)
        .map(|(t, b)| (t.destination, b))
        .collect()
}

pub fn parse(b: &[u8]) -> EnrpMessage<'_> {
    EnrpMessage::parse(b).unwrap()
}

/// The ENRP events queued (other events dropped).
pub fn enrp_events(r: &mut TestRegistrar) -> Vec<EnrpEvent> {
    events(r)
        .into_iter()
        .filter_map(|e| match e {
            Event::Enrp(x) => Some(x),
            _ => None,
        })
        .collect()
}

pub fn to(assoc: u32) -> Destination {
    Destination::Association(AssocId(assoc))
}

/// A peer-owned PE parameter for pool updates.
pub struct PeerPe {
    pub id: u32,
    pub home: Option<u32>,
    pub addrs: Vec<IpAddr>,
    pub protocol: TransportProtocol,
    pub asap: Vec<IpAddr>,
}

impl PeerPe {
    pub fn new(id: u32, home: u32) -> Self {
        PeerPe {
            id,
            home: Some(home),
            addrs: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, id as u8))],
            protocol: TransportProtocol::Sctp,
            asap: vec![pe_addr(id as u8).ip()],
        }
    }
    pub fn param(&self) -> PoolElementParam<'_> {
        PoolElementParam {
            pe_id: pe(self.id),
            home_server: self.home.map(sid),
            registration_life: 300_000,
            user_transport: rserpool::wire::UserTransport::Transport(TransportParam::new(
                self.protocol,
                7000,
                TransportUse::DataOnly,
                &self.addrs,
            )),
            policy: rserpool::wire::PolicyParam::Known(rserpool::Policy::RoundRobin),
            asap_transport: Some(TransportParam::new(
                TransportProtocol::Sctp,
                pe_addr(self.id as u8).port(),
                TransportUse::DataOnly,
                &self.asap,
            )),
        }
    }
}

pub fn update(
    r: &mut TestRegistrar,
    now: Instant,
    assoc: u32,
    from: u32,
    action: UpdateAction,
    pool: &str,
    p: &PeerPe,
) {
    deliver(
        r,
        now,
        assoc,
        from,
        EnrpBody::HandleUpdate {
            takeover_suggested: false,
            action,
            pool_handle: pool.as_bytes(),
            pool_element: p.param(),
        },
    );
}

/// A registrar with ENRP on (no static peers: initialised at once) and peer
/// `from` known over association `assoc`; output and events drained.
pub fn with_peer(from: u32, assoc: u32) -> Box<TestRegistrar> {
    let mut r = registrar(enrp_config(&[]));
    r.handle_timeout(T0);
    enrp_up(&mut r, T0, assoc, peer_addr(from as u8));
    deliver(&mut r, T0, assoc, from, presence_body(0xFFFF, false));
    drain_all(&mut r);
    events(&mut r);
    r
}

/// Registers PE `spec` in `pool` over ASAP association `assoc` (already up),
/// checks the acceptance and returns the ENRP messages queued meanwhile.
pub fn register_enrp(
    r: &mut TestRegistrar,
    now: Instant,
    assoc: u32,
    pool: &str,
    spec: &PeSpec,
) -> Vec<(Destination, Vec<u8>)> {
    r.handle(now, src(assoc), Protocol::Asap, &spec.registration(pool));
    let mut enrp = Vec::new();
    let mut accepted = false;
    for (t, b) in drain_all(r) {
        match t.protocol {
            Protocol::Asap => match AsapMessage::parse(&b).unwrap() {
                AsapMessage::RegistrationResponse { rejected, .. } => accepted = !rejected,
                m => panic!("unexpected {m:?}"),
            },
            Protocol::Enrp => enrp.push((t.destination, b)),
        }
    }
    assert!(accepted);
    events(r);
    enrp
}

/// A registrar (no static peers, initialised) knowing each `(id, assoc)`
/// peer, heard at `T0`; output and events drained.
pub fn with_peers(peers: &[(u32, u32)]) -> Box<TestRegistrar> {
    let mut r = registrar(enrp_config(&[]));
    r.handle_timeout(T0);
    for &(id, assoc) in peers {
        enrp_up(&mut r, T0, assoc, peer_addr(id as u8));
        deliver(&mut r, T0, assoc, id, presence_body(0xFFFF, false));
    }
    drain_all(&mut r);
    events(&mut r);
    r
}

/// A HANDLE_TABLE_RESPONSE from `from` with one pool's PEs.
pub fn table_response(
    r: &mut TestRegistrar,
    now: Instant,
    assoc: u32,
    from: u32,
    more: bool,
    pool: &str,
    pes: &[PeerPe],
) {
    let params: Vec<PoolElementParam<'_>> = pes.iter().map(|p| p.param()).collect();
    let entries = [rserpool::wire::PoolEntry::new(pool.as_bytes(), &params)];
    let n = if pes.is_empty() { 0 } else { 1 };
    deliver(
        r,
        now,
        assoc,
        from,
        EnrpBody::HandleTableResponse {
            more_to_send: more,
            rejected: false,
            entries: List::from_slice(&entries[..n]),
        },
    );
}

/// The (pool handle, PE id, home) triples of a HANDLE_TABLE_RESPONSE and its M flag.
/// One PE of a page: pool handle, PE id, home registrar.
pub type PageEntry = (Vec<u8>, u32, Option<u32>);

pub fn page_of(b: &[u8]) -> (bool, Vec<PageEntry>) {
    match parse(b).body {
        EnrpBody::HandleTableResponse {
            more_to_send,
            rejected,
            entries,
        } => {
            assert!(!rejected);
            let mut v = Vec::new();
            for e in entries.iter() {
                for p in e.elements.iter() {
                    v.push((
                        e.pool_handle.to_vec(),
                        p.pe_id.get(),
                        p.home_server.map(|s| s.get()),
                    ));
                }
            }
            (more_to_send, v)
        }
        b => panic!("not a handle table response: {b:?}"),
    }
}

/// The message types of ENRP output.
pub fn types_of(out: &[(Destination, Vec<u8>)]) -> Vec<(Destination, u8)> {
    out.iter()
        .map(|(d, b)| (*d, u8::from(parse(b).message_type())))
        .collect()
}
