//! # rserpool
//!
//! Reliable Server Pooling (RSerPool, RFC 5351-5356) for boards and hosts.
//!
//! The core (everything but the simulator and the transports) is `no_std`
//! and needs no heap:
//!
//! * [`time`] and [`id`]: the crate's own [`Instant`] and [`Duration`],
//!   [`PoolHandle`], [`PeId`], [`ServerId`].
//! * [`storage`]: ordered indexes (red-black tree, treap, sorted list) over an
//!   arena of nodes.
//! * [`timer`]: timer indexes.
//! * [`policy`]: the pool member selection policies of RFC 5356 and rsplib.
//! * [`random`]: the seeded generator; everything random takes any
//!   [`rand_core::Rng`] (a board's hardware generator, a host's `rand`).
//! * [`handlespace`]: pools and pool elements, selection, ownership, timers
//!   and checksums.
//! * [`wire`]: the ASAP/ENRP codec.
//! * [`transmit`]: what the sans-IO machines exchange with transports.
//! * [`registrar`], [`pool_element`], [`pool_user`]: the three ASAP roles as
//!   sans-IO state machines; [`asap_client`]: what the pool element and the
//!   pool user share (server hunt, registrar table, cookie).
//! * [`session`]: the session layer (rsplib's enhanced mode): pool user
//!   sessions with failover and cookies, pool element sessions.
//! * `host` (feature `alloc`): the code that makes a running node of a
//!   machine and its application (registrar, pool element with a service,
//!   pool user with an application), written once over an environment
//!   trait that the simulator and the runtime implement.
//! * `sim` (feature `sim`): a deterministic pool simulator that runs those
//!   hosts over a virtual network.
//! * `transport` and `runtime` (feature `runtime`): UDP (unicast and
//!   multicast) and TCP transports, and a runtime that runs a registrar,
//!   pool elements and pool users over them (`cargo run --release --example
//!   demo`).
//! * `transport::tokio` (feature `tokio`): non-blocking, bounded UDP and
//!   TCP transports on tokio that one task per node drives (tests over
//!   loopback in `tests/it/net/tokio_*.rs`).
//! * `capture` (feature `capture`): pcap and pcapng captures of ASAP and
//!   ENRP traffic, written (also by the runtime's nodes, on request) and
//!   read (`examples/decode.rs`).
//!
//! # Which layer do I want
//!
//! | you are writing | start from | features |
//! |---|---|---|
//! | a host program that serves or uses a pool (Linux, sockets, threads) | `runtime` nodes: a registrar, a pool element serving sessions, a pool user with failover; `examples/registrar.rs`, `examples/pool_element.rs`, `examples/pool_user.rs`, `examples/demo.rs` | default |
//! | firmware, or a host program with its own event loop and SCTP stack | the sans-IO machines: [`session::SessionElement`] / [`session::SessionUser`] for applications, [`pool_element::PoolElement`], [`pool_user::PoolUser`], [`registrar::Registrar`] for ASAP alone; you feed them time, bytes and association events (below) | none (no heap) or `alloc` |
//! | a tool that reads or writes ASAP/ENRP messages | [`wire`] (zero-copy views, builders into your buffer); `examples/decode.rs` | none |
//! | a registrar of your own, a selection experiment, a benchmark | [`handlespace`] with a [`storage`] backend and a [`policy`]; `examples/hsbench.rs`, `cargo bench` | none or `alloc` |
//! | a test of a pool under loss and crashes | the simulator (feature `sim`, `examples/simulate.rs`): the same machines and hosts in virtual time | `sim` |
//!
//! # The driving loop on a board
//!
//! A machine reads no clock and owns no socket. The firmware's loop hands
//! it the time, what arrived and what happened to associations, and sends
//! what it asks for; nothing here allocates. With a pool element (the
//! other machines take the same calls, [`transmit::Machine`]):
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr, SocketAddr};
//! use rserpool::addr::{TransportProtocol, TransportUse};
//! use rserpool::pool_element::{OwnedTransport, PoolElement, PoolElementConfig};
//! use rserpool::transmit::{Connect, Destination, Machine, Source, TransportEvent, MAX_MESSAGE_SIZE};
//! use rserpool::wire::Protocol;
//! use rserpool::{AssocId, Instant, PoolHandle};
//!
//! /// What the board's SCTP stack and timer offer (the firmware's own code).
//! trait Board {
//!     fn now(&self) -> Instant;
//!     /// A message (with its association and PPID) or an association
//!     /// event, waiting at most until `deadline`.
//!     fn wait(&mut self, deadline: Option<Instant>, buf: &mut [u8]) -> Input;
//!     fn send(&mut self, to: Destination, ppid: u32, bytes: &[u8]);
//!     fn connect(&mut self, to: Connect);
//! }
//! enum Input { Message(AssocId, u32, usize), Event(TransportEvent), Timeout }
//!
//! fn run(board: &mut impl Board) -> ! {
//!     let me = [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))];
//!     let user = OwnedTransport::new(TransportProtocol::Sctp, 7000, TransportUse::DataAndControl, &me).unwrap();
//!     let mut config = PoolElementConfig::rsplib(PoolHandle::new(b"EchoPool").unwrap(), user);
//!     config.registrars.push(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)), 3863)).unwrap();
//!     let mut pe = PoolElement::new(config).unwrap();
//!     pe.register(board.now());
//!     // What arrives; what is sent needs no buffer: it is lent from the
//!     // machine's own transmit queue.
//!     let mut rx = [0u8; MAX_MESSAGE_SIZE];
//!     loop {
//!         // 1. What the machine wants done: associations, then messages.
//!         while let Some(c) = pe.poll_connect() { board.connect(c); }
//!         while let Some((t, bytes)) = pe.peek_transmit() {
//!             board.send(t.destination, t.protocol.ppid(), bytes);
//!             pe.consume_transmit();
//!         }
//!         while let Some(event) = pe.poll_event() { let _ = event; /* registered, failed, ... */ }
//!         // 2. Wait for input or the machine's next deadline.
//!         let deadline = pe.poll_timeout();
//!         let now = board.now();
//!         match board.wait(deadline, &mut rx) {
//!             Input::Message(assoc, ppid, len) => {
//!                 if let Some(protocol) = Protocol::from_ppid(ppid) {
//!                     pe.handle(now, Source::Association(assoc), protocol, &rx[..len]);
//!                 } // else: the application's data (a session's, see `session`)
//!             }
//!             Input::Event(e) => pe.handle_transport_event(now, e),
//!             Input::Timeout => {}
//!         }
//!         // 3. Timers that are due.
//!         if pe.poll_timeout().is_some_and(|t| t <= board.now()) { pe.handle_timeout(board.now()); }
//!     }
//! }
//! ```
//!
//! # Limits set at build time
//!
//! The crate-wide limits that size memory are read by the build script
//! from environment variables (as smoltcp does), so that a board can make
//! its machines smaller without a fork; each constant's documentation
//! gives its range. In a firmware crate, `.cargo/config.toml` sets them:
//!
//! ```toml
//! [env]
//! RSERPOOL_MAX_TRANSPORT_ADDRESSES = "4"
//! RSERPOOL_PU_TRANSMIT_QUEUE_BYTES = "2048"
//! ```
//!
//! | variable | constant | default |
//! |---|---|---|
//! | `RSERPOOL_MAX_TRANSPORT_ADDRESSES` | [`addr::MAX_TRANSPORT_ADDRESSES`] (1-64) | 64 |
//! | `RSERPOOL_MAX_REGISTRARS` | [`asap_client::MAX_REGISTRARS`] | 8 |
//! | `RSERPOOL_MAX_COOKIE_SIZE` | [`asap_client::MAX_COOKIE_SIZE`] | 256 |
//! | `RSERPOOL_PE_TRANSMIT_QUEUE_BYTES` | [`pool_element::TRANSMIT_QUEUE_BYTES`] | 8,192 |
//! | `RSERPOOL_PE_TRANSMIT_QUEUE_ENTRIES` | [`pool_element::TRANSMIT_QUEUE_ENTRIES`] | 32 |
//! | `RSERPOOL_PE_EVENT_QUEUE_LEN` | [`pool_element::EVENT_QUEUE_LEN`] | 16 |
//! | `RSERPOOL_PU_TRANSMIT_QUEUE_BYTES` | [`pool_user::TRANSMIT_QUEUE_BYTES`] | 8,192 |
//! | `RSERPOOL_PU_TRANSMIT_QUEUE_ENTRIES` | [`pool_user::TRANSMIT_QUEUE_ENTRIES`] | 32 |
//! | `RSERPOOL_PU_EVENT_QUEUE_LEN` | [`pool_user::EVENT_QUEUE_LEN`] | 32 |
//! | `RSERPOOL_REGISTRAR_QUEUE_MESSAGES` | [`registrar::QUEUE_MESSAGES`] | 256 |
//! | `RSERPOOL_MAX_PEERS` | [`registrar::MAX_PEERS`] | 16 |
//! | `RSERPOOL_MAX_SESSIONS` | [`registrar::MAX_SESSIONS`] | 8 |
//!
//! A value out of its range stops the build with a message naming the
//! variable. The machines' own capacities (handlespace storage, owned
//! PEs, associations, queues) are their type parameters; see [`presets`].
//! The pool element's three limits are the defaults of its type
//! parameters: a [`PoolElement`](pool_element::PoolElement)`<QUEUE,
//! MESSAGES, EVENTS>` of other capacities (e.g.
//! [`presets::BoardPoolElement`]) does not depend on them.
//!
//! # Features
//!
//! * `alloc`: growable arenas and hash indexes (`handlespace::Growable`),
//!   no std needed.
//! * `std` (implies `alloc`): `time::StdClock`, the machines' clock on a
//!   host.
//! * `sim`, `runtime` and `capture` (each implies `std`): the simulator,
//!   the transports with the runtime, and pcap captures.
//! * `usrsctp` and `sctp-kernel` (imply `runtime`): the SCTP transports.
//! * `defmt` or `log`, at most one of them: logging.
//!
//! The defaults are `std`, `sim`, `runtime` and `capture`. A host program
//! that drives the machines itself needs only `default-features = false,
//! features = ["std"]`; a board `default-features = false`, with `alloc`
//! where it has a heap.
//!
//! # A handlespace without heap
//!
//! ```
//! use core::net::{IpAddr, Ipv4Addr};
//! use rserpool::addr::{TransportAddress, TransportProtocol, TransportUse};
//! use rserpool::handlespace::{FixedHandlespace, Registration};
//! use rserpool::random::Xoshiro256StarStar;
//! use rserpool::storage::RedBlackTree;
//! use rserpool::{AssocId, Instant, PeId, Policy, PoolHandle, ServerId};
//!
//! // Room for 64 PEs in 4 pools, 16 extra addresses and 4 owner registrars.
//! let mut hs: FixedHandlespace<RedBlackTree, 64, 4, 16, 4> = FixedHandlespace::new();
//! let pool = PoolHandle::new(b"EchoPool").unwrap();
//! let addr = [IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))];
//! for id in 1..=3 {
//!     let reg = Registration {
//!         pool_handle: pool,
//!         pe_id: PeId::new(id).unwrap(),
//!         home_registrar: Some(ServerId::new(1).unwrap()),
//!         registration_life: 30_000, // milliseconds
//!         user_transport: TransportAddress {
//!             protocol: TransportProtocol::Sctp,
//!             port: 7000 + id as u16,
//!             transport_use: TransportUse::DataOnly,
//!             service_code: 0,
//!             addresses: &addr,
//!         },
//!         policy: Policy::LeastUsed { load: id * 1000 },
//!         asap_transport: None,
//!         assoc: AssocId(id),
//!     };
//!     hs.register(Instant::ZERO, &reg).unwrap();
//! }
//! let mut rng = Xoshiro256StarStar::seed_from_u64(7);
//! let mut picked = [Default::default(); 2];
//! let n = hs.resolve(&pool, 2, &mut rng, &mut picked).unwrap();
//! let first = hs.get(picked[0]).unwrap();
//! assert_eq!((n, first.pe_id().get()), (2, 1)); // least used first
//! // Every lifetime has run out 30 s later.
//! assert_eq!(hs.purge_expired(Instant::from_secs(31)), 3);
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
// docs.rs (`--cfg docsrs`) marks what each feature adds.
#![cfg_attr(docsrs, feature(doc_cfg))]
// No unsafe code anywhere but in the FFI modules of the SCTP transports
// (`transport::sctp::usrsctp::sys`, `transport::sctp::kernel::sys`) and of
// the tokio UDP transport on Linux (`transport::tokio::udp_sys`: batched
// receives and sends), whose features lower the crate-wide `forbid` to a
// `deny` those modules lift.
#![cfg_attr(
    not(any(
        feature = "usrsctp",
        feature = "sctp-kernel",
        all(feature = "tokio", target_os = "linux")
    )),
    forbid(unsafe_code)
)]
#![cfg_attr(
    any(
        feature = "usrsctp",
        feature = "sctp-kernel",
        all(feature = "tokio", target_os = "linux")
    ),
    deny(unsafe_code)
)]
#![warn(missing_docs)]

// One logging backend at a time. Not checked under clippy and rustdoc, so
// that `cargo clippy --all-features` and `cargo doc --all-features` (as
// docs.rs builds) still work; there `defmt` is the one used.
#[cfg(all(feature = "defmt", feature = "log", not(clippy), not(doc)))]
compile_error!("the features `defmt` and `log` are exclusive: enable at most one of them");

#[cfg(feature = "alloc")]
extern crate alloc;

#[macro_use]
mod logging;

/// The crate-wide limits that size memory, as build.rs wrote them from the
/// `RSERPOOL_<NAME>` environment variables (or their defaults); each is
/// public, with its documentation, where it is used.
mod limits {
    include!(concat!(env!("OUT_DIR"), "/limits.rs"));
}

pub mod addr;
pub mod asap_client;
pub mod capacity;
#[cfg(feature = "capture")]
#[cfg_attr(docsrs, doc(cfg(feature = "capture")))]
pub mod capture;
pub mod cause;
pub mod handlespace;
#[cfg(feature = "alloc")]
#[cfg_attr(docsrs, doc(cfg(feature = "alloc")))]
pub mod host;
pub mod id;
pub mod policy;
pub mod pool_element;
pub mod pool_user;
pub mod presets;
pub mod random;
pub mod registrar;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod runtime;
pub mod session;
#[cfg(feature = "sim")]
#[cfg_attr(docsrs, doc(cfg(feature = "sim")))]
pub mod sim;
pub mod storage;
pub mod time;
pub mod timer;
pub mod transmit;
#[cfg(any(feature = "runtime", feature = "tokio"))]
#[cfg_attr(docsrs, doc(cfg(any(feature = "runtime", feature = "tokio"))))]
pub mod transport;
pub mod wire;

pub use cause::CauseCode;
pub use id::{AssocId, PeId, PoolHandle, ServerId};
pub use policy::Policy;
pub use time::{Duration, Instant};
