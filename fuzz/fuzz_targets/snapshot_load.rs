#![no_main]
//! Snapshot bytes: decode, parse, index services, locate; render any diagnostic.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = expolicy_fuzz::snapshot_load(data);
});
