#![no_main]
//! Snapshot bytes evaluated by the Exchange 2003 and demo packs.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    expolicy_fuzz::eval_pack(data);
});
