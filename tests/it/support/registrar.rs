//! Shared helpers of the registrar tests: a small registrar type, message
//! builders and a drain that parses every transmit back.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::machine;

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::handlespace::Fixed;
use rserpool::registrar::{Event, Registrar, RegistrarConfig};
use rserpool::storage::RedBlackTree;
use rserpool::transmit::{Destination, Machine, Source, Transmit, TransportEvent};
use rserpool::wire::{
    AsapMessage, List, PolicyParam, PoolElementParam, Protocol, TransportParam, UserTransport,
};
use rserpool::{AssocId, Instant, PeId, Policy, ServerId};

/// 64 PEs, 16 pools, 64 extra addresses, 4 owners; 64 owned PEs, 16
/// associations, a 16 KiB transmit queue, 64 events.
pub type TestRegistrar = Registrar<RedBlackTree, Fixed<64, 16, 64, 4>, 64, 16, 16384, 64>;

pub const SERVER: u32 = 0x5E5E_0001;

pub fn server_id() -> ServerId {
    ServerId::new(SERVER).unwrap()
}

/// rsplib profile, announcing off, seed 7, foreign user addresses
/// allowed: the fixtures register documentation addresses (192.0.2.x, see
/// [`PeSpec`]) over associations from 10.0.0.x (as behind NAT); the
/// address check itself is tested with [`strict_config`].
pub fn config() -> RegistrarConfig {
    let mut c = strict_config();
    c.allow_foreign_addresses = true;
    c
}

/// [`config`] with the default address check: user transport addresses
/// must be the registering association's remote address.
pub fn strict_config() -> RegistrarConfig {
    let mut c = RegistrarConfig::rsplib(server_id()).with_seed(7);
    c.announce = false;
    c
}

pub fn registrar(c: RegistrarConfig) -> Box<TestRegistrar> {
    Box::new(Registrar::new(c))
}

pub fn pe_addr(n: u8) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, n)), 5000 + u16::from(n))
}

pub fn a(n: u32) -> AssocId {
    AssocId(n)
}

pub fn src(n: u32) -> Source {
    Source::Association(AssocId(n))
}

/// Reports association `n` up, from `pe_addr(n)`.
pub fn up(r: &mut TestRegistrar, now: Instant, n: u32) {
    up_any(r, now, n);
}

/// [`up`] for a registrar of any type.
pub fn up_any(r: &mut impl Machine, now: Instant, n: u32) {
    r.handle_transport_event(
        now,
        TransportEvent::Up {
            assoc: AssocId(n),
            remote: pe_addr(n as u8),
            protocol: Protocol::Asap,
            verified: true,
        },
    );
}

pub fn pe(id: u32) -> PeId {
    PeId::new(id).unwrap()
}

pub fn emit(m: &AsapMessage<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; m.buffer_len()];
    let n = m.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

pub struct PeSpec {
    pub id: u32,
    pub life_ms: i32,
    pub policy: PolicyParam<'static>,
    pub protocol: TransportProtocol,
    pub transport_use: TransportUse,
    pub addrs: Vec<IpAddr>,
    pub port: u16,
}

impl PeSpec {
    pub fn new(id: u32) -> Self {
        PeSpec {
            id,
            life_ms: 300_000,
            policy: PolicyParam::Known(Policy::RoundRobin),
            protocol: TransportProtocol::Sctp,
            transport_use: TransportUse::DataOnly,
            addrs: vec![IpAddr::V4(Ipv4Addr::new(192, 0, 2, id as u8))],
            port: 7000,
        }
    }
    pub fn life(mut self, ms: i32) -> Self {
        self.life_ms = ms;
        self
    }
    pub fn policy(mut self, p: Policy) -> Self {
        self.policy = PolicyParam::Known(p);
        self
    }
    pub fn protocol(mut self, p: TransportProtocol) -> Self {
        self.protocol = p;
        self
    }
    pub fn transport_use(mut self, u: TransportUse) -> Self {
        self.transport_use = u;
        self
    }
    pub fn with_param<R>(&self, f: impl FnOnce(&PoolElementParam<'_>) -> R) -> R {
        let p = PoolElementParam {
            pe_id: pe(self.id),
            home_server: None,
            registration_life: self.life_ms,
            user_transport: UserTransport::Transport(TransportParam::new(
                self.protocol,
                self.port,
                self.transport_use,
                &self.addrs,
            )),
            policy: self.policy,
            asap_transport: None,
        };
        f(&p)
    }
    pub fn registration(&self, pool: &str) -> Vec<u8> {
        self.with_param(|p| {
            emit(&AsapMessage::Registration {
                pool_handle: pool.as_bytes(),
                pool_element: *p,
            })
        })
    }
}

pub fn deregistration(pool: &str, id: u32) -> Vec<u8> {
    emit(&AsapMessage::Deregistration {
        pool_handle: pool.as_bytes(),
        pe_id: pe(id),
    })
}

pub fn resolution(pool: &str, items: Option<u32>) -> Vec<u8> {
    emit(&AsapMessage::HandleResolution {
        subscribe: false,
        pool_handle: pool.as_bytes(),
        items,
    })
}

pub fn keep_alive_ack(pool: &str, id: u32) -> Vec<u8> {
    emit(&AsapMessage::EndpointKeepAliveAck {
        pool_handle: pool.as_bytes(),
        pe_id: pe(id),
    })
}

pub fn unreachable(pool: &str, id: u32) -> Vec<u8> {
    emit(&AsapMessage::EndpointUnreachable {
        pool_handle: pool.as_bytes(),
        pe_id: pe(id),
    })
}

/// Every queued message, as (transmit, bytes); all ASAP, each parsed back.
pub fn drain(r: &mut TestRegistrar) -> Vec<(Transmit, Vec<u8>)> {
    machine::asap_transmits(r)
}

/// Exactly one queued message, to `dest`; its bytes.
pub fn one(r: &mut TestRegistrar, dest: Destination) -> Vec<u8> {
    let mut v = drain(r);
    assert_eq!(v.len(), 1, "expected one message, got {}", v.len());
    let (t, b) = v.pop().unwrap();
    assert_eq!(t.destination, dest);
    b
}

/// Every event queued, in order.
pub fn events(r: &mut TestRegistrar) -> Vec<Event> {
    machine::events(r)
}

/// Registers PE `id` in `pool` over association `assoc` (already up) and
/// checks the acceptance; drains output and events.
pub fn register_ok(r: &mut TestRegistrar, now: Instant, assoc: u32, pool: &str, spec: &PeSpec) {
    r.handle(now, src(assoc), Protocol::Asap, &spec.registration(pool));
    let b = one(r, Destination::Association(a(assoc)));
    match AsapMessage::parse(&b).unwrap() {
        AsapMessage::RegistrationResponse {
            rejected, error, ..
        } => assert!(!rejected && error.is_none(), "rejected: {error:?}"),
        m => panic!("unexpected {m:?}"),
    }
    events(r);
}

pub fn list_vec<'a, T: rserpool::wire::ListItem<'a>>(l: &List<'a, T>) -> Vec<T> {
    l.iter().collect()
}

/// Runs the registrar's timers up to `end` (answering nothing); every
/// message sent, with the time it was sent.
pub fn run_until(r: &mut TestRegistrar, end: Instant) -> Vec<(Instant, Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(t) = r.poll_timeout() {
        if t > end {
            break;
        }
        r.handle_timeout(t);
        for (tr, b) in drain(r) {
            out.push((t, tr, b));
        }
    }
    out
}

/// Like [`run_until`], but PEs answer every keep-alive at once with an ACK
/// over the association it came on.
pub fn run_answering(r: &mut TestRegistrar, end: Instant) -> Vec<(Instant, Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(t) = r.poll_timeout() {
        if t > end {
            break;
        }
        r.handle_timeout(t);
        for (tr, b) in drain(r) {
            if let (
                AsapMessage::EndpointKeepAlive {
                    pool_handle,
                    pe_id: Some(id),
                    ..
                },
                Destination::Association(assoc),
            ) = (AsapMessage::parse(&b).unwrap(), tr.destination)
            {
                let ack = emit(&AsapMessage::EndpointKeepAliveAck {
                    pool_handle,
                    pe_id: id,
                });
                r.handle(t, Source::Association(assoc), Protocol::Asap, &ack);
            }
            out.push((t, tr, b));
        }
    }
    out
}

/// `bytes` (a REGISTRATION whose first parameter is the pool handle) with
/// the pool handle replaced by `handle` (which the encoder refuses to emit).
pub fn with_handle(bytes: &[u8], handle: &[u8]) -> Vec<u8> {
    let old_len = u16::from_be_bytes([bytes[6], bytes[7]]) as usize;
    let rest = &bytes[4 + old_len.div_ceil(4) * 4..];
    let mut m = bytes[..4].to_vec();
    m.extend_from_slice(&bytes[4..6]);
    m.extend_from_slice(&((4 + handle.len()) as u16).to_be_bytes());
    m.extend_from_slice(handle);
    while m.len() % 4 != 0 {
        m.push(0);
    }
    m.extend_from_slice(rest);
    let len = m.len() as u16;
    m[2..4].copy_from_slice(&len.to_be_bytes());
    m
}
