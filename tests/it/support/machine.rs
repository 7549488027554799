//! What every test does with a sans-IO machine ([`Machine`]): take out the
//! messages it queued (each parsed back), hand it a message, collect its
//! application events.

use rserpool::pool_element::{self, PoolElement};
use rserpool::pool_user::{self, PoolUser};
use rserpool::registrar;
use rserpool::transmit::{Destination, Machine, Source, Transmit, MAX_MESSAGE_SIZE};
use rserpool::wire::{AsapMessage, EnrpMessage, Protocol};
use rserpool::{AssocId, Instant};

use super::registrar::TestRegistrar;

/// Every message `m` has queued, in order, as (transmit, bytes). Each one
/// must parse back as the protocol its transmit names.
pub fn transmits<M: Machine + ?Sized>(m: &mut M) -> Vec<(Transmit, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; MAX_MESSAGE_SIZE];
    while let Some(t) = m.poll_transmit(&mut buf).unwrap() {
        let bytes = buf[..t.len].to_vec();
        match t.protocol {
            Protocol::Asap => {
                AsapMessage::parse(&bytes).expect("the machine emits parseable ASAP");
            }
            Protocol::Enrp => {
                EnrpMessage::parse(&bytes).expect("the machine emits parseable ENRP");
            }
        }
        out.push((t, bytes));
    }
    out
}

/// Like [`transmits`], for a machine that speaks only ASAP here: every
/// message must be ASAP.
pub fn asap_transmits<M: Machine + ?Sized>(m: &mut M) -> Vec<(Transmit, Vec<u8>)> {
    let out = transmits(m);
    for (t, _) in &out {
        assert_eq!(t.protocol, Protocol::Asap, "{t:?}");
    }
    out
}

/// Every queued message, all of them ASAP, as (destination, bytes).
pub fn drain<M: Machine + ?Sized>(m: &mut M) -> Vec<(Destination, Vec<u8>)> {
    asap_transmits(m)
        .into_iter()
        .map(|(t, b)| (t.destination, b))
        .collect()
}

/// An association, named by its number or its [`AssocId`].
pub trait Assoc {
    /// The association's id.
    fn assoc(self) -> AssocId;
}

impl Assoc for u32 {
    fn assoc(self) -> AssocId {
        AssocId(self)
    }
}

impl Assoc for AssocId {
    fn assoc(self) -> AssocId {
        self
    }
}

/// Encodes `message` and hands it to `m` as received on association `assoc`.
pub fn feed<M: Machine + ?Sized>(
    m: &mut M,
    now: Instant,
    assoc: impl Assoc,
    message: &AsapMessage<'_>,
) {
    let mut buf = vec![0u8; message.buffer_len()];
    let n = message.emit(&mut buf).unwrap();
    m.handle(
        now,
        Source::Association(assoc.assoc()),
        Protocol::Asap,
        &buf[..n],
    );
}

/// A machine with a queue of application events.
pub trait Events {
    /// What it reports.
    type Event;
    /// The next event, if any.
    fn next_event(&mut self) -> Option<Self::Event>;
}

impl Events for TestRegistrar {
    type Event = registrar::Event;
    fn next_event(&mut self) -> Option<registrar::Event> {
        self.poll_event()
    }
}

impl Events for PoolElement {
    type Event = pool_element::Event;
    fn next_event(&mut self) -> Option<pool_element::Event> {
        self.poll_event()
    }
}

impl<const P: usize, const E: usize> Events for PoolUser<P, E> {
    type Event = pool_user::Event;
    fn next_event(&mut self) -> Option<pool_user::Event> {
        self.poll_event()
    }
}

/// Every event `m` has queued, in order.
pub fn events<M: Events + ?Sized>(m: &mut M) -> Vec<M::Event> {
    std::iter::from_fn(|| m.next_event()).collect()
}

/// A SERVER_ANNOUNCE of registrar `server` naming one SCTP transport, port
/// 3863, at `ip`, handed to `m` as a datagram from that host (port 40,000).
pub fn announce<M: Machine + ?Sized>(m: &mut M, now: Instant, ip: std::net::IpAddr, server: u32) {
    use rserpool::addr::{TransportProtocol, TransportUse};
    use rserpool::wire::TransportParam;
    let addrs = [ip];
    let transports = [TransportParam::new(
        TransportProtocol::Sctp,
        3863,
        TransportUse::DataOnly,
        &addrs,
    )];
    let message = AsapMessage::ServerAnnounce {
        server_id: rserpool::ServerId::new(server).unwrap(),
        transports: (&transports).into(),
    };
    let mut buf = vec![0u8; 512];
    let len = message.emit(&mut buf).unwrap();
    m.handle(
        now,
        Source::Datagram(std::net::SocketAddr::new(ip, 40_000)),
        Protocol::Asap,
        &buf[..len],
    );
}
