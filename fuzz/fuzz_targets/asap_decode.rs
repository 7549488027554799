//! Fuzz target `asap_decode`: see `rserpool_fuzz::asap_decode` for the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rserpool_fuzz::asap_decode(data));
