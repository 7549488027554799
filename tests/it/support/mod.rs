//! Helpers the integration tests share.
//!
//! * [`machine`]: draining, feeding and polling any sans-IO machine
//!   (`drain`, `feed`, `events`), written once for every role;
//! * [`pair`]: two machines wired together in virtual time ([`pair::Pair`]);
//! * [`registrar`] and [`enrp`]: a small registrar type, hand-built ASAP
//!   and ENRP messages;
//! * [`session`]: a virtual network of session machines with a real
//!   registrar;
//! * [`sim`]: simulated pools (one registrar, or ENRP registrars) and checks
//!   of what their registrars hold;
//! * [`fuzz_checks`]: the fuzz targets' checks (`fuzz/src/lib.rs`, with the
//!   stateful step harness `fuzz/src/steps.rs`), for the corpus replays and
//!   the Wireshark comparison;
//! * [`net`]: nodes of the runtime over real sockets (also used, through a
//!   `#[path]` module, by the feature-gated SCTP test binaries).

pub mod enrp;
#[cfg(feature = "capture")]
#[allow(dead_code)]
#[path = "../../../fuzz/src/lib.rs"]
pub mod fuzz_checks;
pub mod machine;
#[cfg(all(feature = "runtime", feature = "capture"))]
pub mod net;
pub mod pair;
pub mod registrar;
pub mod session;
#[cfg(feature = "sim")]
pub mod sim;
