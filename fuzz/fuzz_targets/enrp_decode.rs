//! Fuzz target `enrp_decode`: see `rserpool_fuzz::enrp_decode` for the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rserpool_fuzz::enrp_decode(data));
