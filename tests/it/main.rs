//! Every integration test of the crate that needs no optional transport, in
//! one test binary: one module per area, each former test file a module of
//! its area, and the helpers they share in [`support`].
//!
//! proptest keeps the failures it has seen where it looks by default for a
//! test binary with a `main.rs`: in `tests/proptest-regressions/` (beside
//! `tests/it/`), one file per test module, e.g. `handlespace/model.txt` for
//! `tests/it/handlespace/model.rs`.
//!
//! Areas that need an optional subsystem are left out without it: `sim`
//! (feature `sim`), `net` (`runtime` and `capture`), the Wireshark and
//! fuzz-corpus checks of `wire` (`capture`).
//!
//! Run one area or one file with a name filter: `cargo test --test it sim::`,
//! `cargo test --test it wire::golden`.

mod support;

mod enrp;
mod errors;
mod handlespace;
#[cfg(all(feature = "runtime", feature = "capture"))]
mod net;
mod policy;
mod pool_element;
mod pool_user;
mod presets;
mod registrar;
mod session;
#[cfg(feature = "sim")]
mod sim;
mod storage;
mod wire;
