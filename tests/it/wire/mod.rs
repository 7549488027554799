//! The ASAP/ENRP codec: golden bytes, round trips, Wireshark's view, the fuzz corpus.

#[cfg(feature = "capture")]
mod fuzz_corpus;
mod golden;
mod roundtrip;
mod validated;
#[cfg(feature = "capture")]
mod wireshark;
