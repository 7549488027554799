//! Fuzz target `roundtrip`: see `rserpool_fuzz::roundtrip` for the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rserpool_fuzz::roundtrip(data));
