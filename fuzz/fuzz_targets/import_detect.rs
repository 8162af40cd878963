#![no_main]
//! Any bytes through `expolicy import` with the format recognised from the content.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    expolicy_fuzz::import(data, None);
});
