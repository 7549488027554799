//! A registrar, two pool elements and a pool user on one Cortex-M4 (qemu's
//! mps2-an386), each in a `static` built at compile time
//! (`static_cell::ConstStaticCell` over the machines' `new_const`, so no
//! machine ever passes through the stack), connected through an in-memory
//! "SCTP" link (message-preserving queues, associations that come up and
//! abort) and driven by a virtual clock advanced per loop.
//!
//! Both PEs register; the pool user resolves the pool and sends requests to
//! the PEs it selects; one PE stops (its associations abort, the registrar
//! removes it), the pool user's next request to it finds no answer, the
//! user reports it unreachable and fails over to the other PE. The outcome,
//! the stack high-water mark of each phase and the RAM taken by statics go
//! out through semihosting:
//!
//! ```text
//! firmware: registered=2 resolved=N failover=1 lost=0
//! ```
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod stack;

use core::net::{IpAddr, Ipv4Addr, SocketAddr};

use cortex_m_rt::entry;
use cortex_m_semihosting::{debug, hprintln};
use static_cell::ConstStaticCell;

use rserpool::addr::{TransportProtocol, TransportUse};
use rserpool::asap_client::OwnedTransport;
use rserpool::handlespace::Fixed;
use rserpool::pool_element::{self, PoolElementConfig};
use rserpool::pool_user::{self, PoolUser, PoolUserConfig, PoolUserError, SendOptions};
use rserpool::presets::BoardPoolElement;
use rserpool::registrar::{Registrar, RegistrarConfig};
use rserpool::storage::Treap;
use rserpool::transmit::{Destination, Machine, Source, TransportEvent};
use rserpool::wire::Protocol;
use rserpool::{AssocId, Duration, Instant, PeId, PoolHandle, ServerId};

/// The registrar of a small board: 16 PEs in 4 pools, 16 owned PEs, 8
/// associations, a 4 KiB transmit queue, 8 events.
type BoardRegistrar = Registrar<Treap, Fixed<16, 4, 4, 2>, 16, 8, 4096, 8>;
/// The registrar's handlespace.
type BoardHandlespace = rserpool::handlespace::Handlespace<Treap, Fixed<16, 4, 4, 2>>;
/// A pool user caching 2 pools of 4 PEs.
type BoardUser = PoolUser<2, 4>;

const POOL: PoolHandle = match PoolHandle::new(b"echo") {
    Ok(p) => p,
    Err(_) => panic!("pool handle"),
};
const REGISTRAR_ID: ServerId = match ServerId::new(1) {
    Ok(id) => id,
    Err(_) => panic!("server id"),
};
const REGISTRAR_ADDR: SocketAddr = SocketAddr::new(ip(1), 3863);

const fn ip(host: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(10, 0, 0, host))
}

const fn pe_id(n: u32) -> PeId {
    match PeId::new(n) {
        Ok(id) => id,
        Err(_) => panic!("pe id"),
    }
}

const fn registrar_config() -> RegistrarConfig {
    let mut c = RegistrarConfig::rfc(REGISTRAR_ID).with_seed(7);
    // No multicast on this link: the clients know the registrar.
    c.announce = false;
    c
}

const fn element_config(host: u8, id: u32) -> PoolElementConfig {
    let transport = OwnedTransport::new_const(
        TransportProtocol::Sctp,
        7,
        TransportUse::DataOnly,
        [ip(host)],
    );
    let mut c = PoolElementConfig::rfc(POOL, transport).with_registrars([REGISTRAR_ADDR]);
    c.pe_id = Some(pe_id(id));
    c.seed = id as u64;
    c
}

const fn user_config() -> PoolUserConfig {
    let mut c = PoolUserConfig::rfc().with_registrars([REGISTRAR_ADDR]);
    c.seed = 3;
    c
}

static REGISTRAR: ConstStaticCell<BoardRegistrar> =
    ConstStaticCell::new(Registrar::new_const(registrar_config()));
/// The pool elements: the preset's 1 KiB transmit queue of 8 messages, 4
/// events.
static PE_A: ConstStaticCell<BoardPoolElement> =
    ConstStaticCell::new(BoardPoolElement::new_sized_const(element_config(2, 0x0A)));
static PE_B: ConstStaticCell<BoardPoolElement> =
    ConstStaticCell::new(BoardPoolElement::new_sized_const(element_config(3, 0x0B)));
static USER: ConstStaticCell<BoardUser> = ConstStaticCell::new(PoolUser::new_const(user_config()));
static LINK: ConstStaticCell<Link> = ConstStaticCell::new(Link::new());

/// The largest message the link carries (an SCTP message the size of an
/// Ethernet frame's payload, as the machines here send).
const MTU: usize = 1024;
/// Messages in flight at once.
const IN_FLIGHT: usize = 16;
/// Associations at once.
const ASSOCS: usize = 8;

/// The nodes: 0 the registrar, 1 and 2 the PEs, 3 the pool user.
const NODES: usize = 4;

/// Node `n`'s address: 10.0.0.(n + 1).
const fn node_ip(n: usize) -> IpAddr {
    ip(n as u8 + 1)
}

/// One message in flight.
struct Packet {
    to: usize,
    assoc: AssocId,
    protocol: Protocol,
    len: usize,
    bytes: [u8; MTU],
}

/// An association: the same number on both ends.
#[derive(Clone, Copy)]
struct Assoc {
    ends: [usize; 2],
    up: bool,
}

/// The in-memory "SCTP": associations and a queue of whole messages.
struct Link {
    packets: heapless::Deque<Packet, IN_FLIGHT>,
    assocs: heapless::Vec<Assoc, ASSOCS>,
    /// Messages that found no association or no room (nothing should).
    dropped: u32,
}

impl Link {
    const fn new() -> Self {
        Link {
            packets: heapless::Deque::new(),
            assocs: heapless::Vec::new(),
            dropped: 0,
        }
    }

    fn peer(&self, from: usize, assoc: AssocId) -> Option<usize> {
        let a = self.assocs.get(assoc.0.checked_sub(1)? as usize)?;
        if !a.up {
            return None;
        }
        match a.ends {
            [x, y] if x == from => Some(y),
            [x, y] if y == from => Some(x),
            _ => None,
        }
    }
}

/// The four machines, addressed by node number.
struct Nodes {
    registrar: &'static mut BoardRegistrar,
    pes: [&'static mut BoardPoolElement; 2],
    user: &'static mut BoardUser,
    /// Stopped nodes neither send nor receive.
    stopped: [bool; NODES],
}

impl Nodes {
    fn machine(&mut self, n: usize) -> &mut dyn Machine {
        match n {
            0 => self.registrar,
            1 | 2 => self.pes[n - 1],
            _ => self.user,
        }
    }
}

/// What the run counted.
#[derive(Default)]
struct Outcome {
    registered: u32,
    resolved: u32,
    failovers: u32,
    served: u32,
    lost: u32,
    /// The most stack one call into each machine took (bytes below the
    /// caller's frame), per node.
    stack: [usize; NODES],
    /// The deepest the stack went in any call measured (bytes from its
    /// top).
    deepest: usize,
}

/// Runs `$call` (a call into node `$n`'s machine) on a freshly painted
/// stack and keeps the most stack it took in `$out.stack[$n]`.
macro_rules! metered {
    ($out:expr, $n:expr, $call:expr) => {{
        let sp = stack::paint();
        let r = $call;
        let used = stack::used_below(sp);
        if used > $out.stack[$n] {
            $out.stack[$n] = used;
        }
        $out.deepest = $out.deepest.max(stack::top() - sp + used);
        r
    }};
}

/// The virtual clock's step when nothing is due sooner.
const TICK: Duration = Duration::from_millis(10);

/// One turn of the loop: connects, messages, deliveries, timers, events;
/// then the clock moves to the next deadline (at most one tick on).
fn step(nodes: &mut Nodes, link: &mut Link, now: &mut Instant, out: &mut Outcome) {
    for n in 0..NODES {
        if nodes.stopped[n] {
            continue;
        }
        while let Some(c) = metered!(out, n, nodes.machine(n).poll_connect()) {
            let target = (0..NODES).find(|&t| node_ip(t) == c.remote.ip());
            match target {
                Some(t) if !nodes.stopped[t] && link.assocs.len() < ASSOCS => {
                    let _ = link.assocs.push(Assoc {
                        ends: [n, t],
                        up: true,
                    });
                    let assoc = AssocId(link.assocs.len() as u32);
                    let up = TransportEvent::Up {
                        assoc,
                        remote: c.remote,
                        protocol: c.protocol,
                        verified: true,
                    };
                    metered!(out, n, nodes.machine(n).handle_transport_event(*now, up));
                    let back = SocketAddr::new(node_ip(n), 40_000 + n as u16);
                    let up = TransportEvent::Up {
                        assoc,
                        remote: back,
                        protocol: c.protocol,
                        verified: true,
                    };
                    metered!(out, t, nodes.machine(t).handle_transport_event(*now, up));
                }
                _ => nodes.machine(n).handle_transport_event(
                    *now,
                    TransportEvent::ConnectFailed { remote: c.remote },
                ),
            }
        }
        // The messages are lent from the machine's queue; the link copies
        // them, as an SCTP stack copies what it is given to send.
        loop {
            let (destination, packet) = {
                let Some((t, bytes)) = metered!(out, n, nodes.machine(n).peek_transmit()) else {
                    break;
                };
                let packet = match t.destination {
                    Destination::Association(assoc) if bytes.len() <= MTU => {
                        link.peer(n, assoc).map(|to| {
                            let mut p = Packet {
                                to,
                                assoc,
                                protocol: t.protocol,
                                len: bytes.len(),
                                bytes: [0; MTU],
                            };
                            p.bytes[..bytes.len()].copy_from_slice(bytes);
                            p
                        })
                    }
                    _ => None,
                };
                (t.destination, packet)
            };
            nodes.machine(n).consume_transmit();
            match (destination, packet) {
                (_, Some(p)) => {
                    if link.packets.push_back(p).is_err() {
                        link.dropped += 1;
                    }
                }
                (Destination::Association(assoc), None) if link.peer(n, assoc).is_none() => {
                    nodes
                        .machine(n)
                        .handle_transport_event(*now, TransportEvent::SendFailed { assoc });
                }
                // Larger than the link's MTU, or no multicast or
                // connectionless path on this link.
                _ => link.dropped += 1,
            }
        }
    }
    while let Some(p) = link.packets.pop_front() {
        if !nodes.stopped[p.to] {
            let source = Source::Association(p.assoc);
            let to = p.to;
            metered!(
                out,
                to,
                nodes
                    .machine(to)
                    .handle(*now, source, p.protocol, &p.bytes[..p.len])
            );
        }
    }
    let mut next = *now + TICK;
    for n in 0..NODES {
        if nodes.stopped[n] {
            continue;
        }
        if let Some(t) = nodes.machine(n).poll_timeout() {
            if t <= *now {
                metered!(out, n, nodes.machine(n).handle_timeout(*now));
            } else if t < next {
                next = t;
            }
        }
    }
    while nodes.registrar.poll_event().is_some() {}
    for pe in nodes.pes.iter_mut() {
        while let Some(e) = pe.poll_event() {
            if matches!(e, pool_element::Event::Registered { .. }) {
                out.registered += 1;
            }
        }
    }
    while let Some(e) = nodes.user.poll_event() {
        if matches!(e, pool_user::Event::Resolved { .. }) {
            out.resolved += 1;
        }
    }
    *now = next;
}

/// Stops node `n`: it neither sends nor receives, and its associations
/// abort (the other ends see them go down).
fn stop(nodes: &mut Nodes, link: &mut Link, now: Instant, n: usize) {
    nodes.stopped[n] = true;
    for i in 0..link.assocs.len() {
        let a = link.assocs[i];
        if a.up && a.ends.contains(&n) {
            link.assocs[i].up = false;
            let other = if a.ends[0] == n { a.ends[1] } else { a.ends[0] };
            if !nodes.stopped[other] {
                let assoc = AssocId(i as u32 + 1);
                nodes
                    .machine(other)
                    .handle_transport_event(now, TransportEvent::Down { assoc });
            }
        }
    }
}

/// Requests the user sends, one every 100 ms; the first PE stops before
/// request `STOP_AT`.
const REQUESTS: u32 = 10;
const STOP_AT: u32 = 4;
/// The most loop turns any phase may take.
const PHASE_STEPS: u32 = 10_000;

fn exit(code: i32) -> ! {
    if code == 0 {
        debug::exit(debug::EXIT_SUCCESS);
    } else {
        debug::exit(debug::EXIT_FAILURE);
    }
    loop {
        cortex_m::asm::wfi();
    }
}

#[entry]
fn main() -> ! {
    let mut nodes = Nodes {
        registrar: REGISTRAR.take(),
        pes: [PE_A.take(), PE_B.take()],
        user: USER.take(),
        stopped: [false; NODES],
    };
    let link = LINK.take();
    let mut now = Instant::ZERO;
    let mut out = Outcome::default();

    // Each machine's start: the registrar's first timers, the PEs' server
    // hunt and REGISTRATION, the user's first resolution.
    metered!(out, 0, nodes.registrar.handle_timeout(now));
    for (i, pe) in nodes.pes.iter_mut().enumerate() {
        metered!(out, i + 1, pe.register(now));
    }
    let _ = metered!(out, 3, nodes.user.resolve(now, &POOL));
    let start = out.stack;
    out.stack = [0; NODES];

    let mut turns = 0;
    while out.registered < 2 && turns < PHASE_STEPS {
        step(&mut nodes, link, &mut now, &mut out);
        turns += 1;
    }

    let mut sent = 0;
    let mut turns = 0;
    while sent < REQUESTS && turns < PHASE_STEPS {
        turns += 1;
        if sent == STOP_AT && !nodes.stopped[1] {
            stop(&mut nodes, link, now, 1);
        }
        let mut selection = match nodes.user.select(now, &POOL, SendOptions::DEFAULT) {
            Ok(s) => s,
            Err(PoolUserError::WouldBlock) => {
                step(&mut nodes, link, &mut now, &mut out);
                continue;
            }
            Err(_) => {
                out.lost += 1;
                sent += 1;
                continue;
            }
        };
        // The request goes to the selected PE's application; a stopped PE
        // answers nothing, and the user fails over.
        let mut tries = 0;
        loop {
            let pe = nodes.pes.iter().position(|p| p.pe_id() == selection.pe_id);
            if let Some(i) = pe.filter(|&i| !nodes.stopped[i + 1]) {
                let _ = i;
                out.served += 1;
                break;
            }
            tries += 1;
            if tries > 2 {
                out.lost += 1;
                break;
            }
            match nodes
                .user
                .report_unreachable(now, &POOL, selection.pe_id, SendOptions::DEFAULT)
            {
                Ok(Some(s)) => {
                    out.failovers += 1;
                    selection = s;
                }
                _ => {
                    out.lost += 1;
                    break;
                }
            }
        }
        sent += 1;
        // 100 ms of virtual time between requests.
        let until = now + Duration::from_millis(100);
        while now < until {
            step(&mut nodes, link, &mut now, &mut out);
        }
    }

    // What the registrar holds at the end: the live PE only.
    let remaining = nodes.registrar.handlespace().len();
    let lost = out.lost
        + link.dropped
        + nodes
            .pes
            .iter()
            .map(|p| p.events_lost() + p.send_failures())
            .sum::<u32>()
        + nodes.user.events_lost()
        + nodes.user.send_failures()
        + (REQUESTS - out.served - out.lost);
    hprintln!(
        "firmware: registered={} resolved={} failover={} lost={}",
        out.registered,
        out.resolved,
        out.failovers,
        lost
    );
    hprintln!(
        "firmware: served={} registrar_pes_at_end={} virtual_time_ms={}",
        out.served,
        remaining,
        now.as_micros() / 1000
    );
    hprintln!(
        "firmware: stack bytes to start: registrar={} pool element={} pool user={}",
        start[0],
        start[1].max(start[2]),
        start[3]
    );
    hprintln!(
        "firmware: stack bytes per call while running: registrar={} pool element={} pool user={}; whole stack high-water={}",
        out.stack[0],
        out.stack[1].max(out.stack[2]),
        out.stack[3],
        out.deepest
    );
    hprintln!(
        "firmware: handlespace bytes={} for 16 PEs ({} per PE, pools and owners included)",
        core::mem::size_of::<BoardHandlespace>(),
        core::mem::size_of::<BoardHandlespace>() / 16
    );
    hprintln!(
        "firmware: ram statics={} (registrar={} pool element={} x2 pool user={} link={}) of {}",
        stack::statics(),
        core::mem::size_of::<BoardRegistrar>(),
        core::mem::size_of::<BoardPoolElement>(),
        core::mem::size_of::<BoardUser>(),
        core::mem::size_of::<Link>(),
        stack::top() - 0x2000_0000
    );
    let ok = out.registered == 2 && out.failovers == 1 && lost == 0 && remaining == 1;
    exit(if ok { 0 } else { 1 })
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo) -> ! {
    hprintln!("firmware: panic: {}", info);
    exit(1)
}
