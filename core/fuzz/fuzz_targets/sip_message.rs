//! Fuzz target: any bytes through the whole message layer. Run with
//! `cargo fuzz run sip_message` from core/ (see README "Fuzzing").
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    sipr_core::sip::exercise(data);
});
