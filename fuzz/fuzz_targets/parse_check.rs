#![no_main]
//! Policy bytes (files split by `\n#--- file\n`): parse, check, evaluate, format.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    expolicy_fuzz::parse_check(data);
});
