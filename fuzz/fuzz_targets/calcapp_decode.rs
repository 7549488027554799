//! Fuzz target `calcapp_decode`: see `rserpool_fuzz::calcapp_decode` for the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rserpool_fuzz::calcapp_decode(data));
