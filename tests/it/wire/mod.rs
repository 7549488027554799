//! The ASAP/ENRP codec: golden bytes, round trips, Wireshark's view, the fuzz corpus.

mod fuzz_corpus;
mod golden;
mod roundtrip;
mod wireshark;
