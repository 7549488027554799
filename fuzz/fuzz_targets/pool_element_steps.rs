//! Fuzz target `pool_element_steps`: see `rserpool_fuzz::steps::pool_element_steps` for the input
//! layout and the checks.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| rserpool_fuzz::steps::pool_element_steps(data));
