//! Fuzz target `pcap_read`: see `rserpool_fuzz::pcap_read` for the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rserpool_fuzz::pcap_read(data));
