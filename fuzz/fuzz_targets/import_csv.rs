#![no_main]
//! Any bytes through `expolicy import --from` this format (`import_csv`).

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    expolicy_fuzz::import(data, Some(expolicy::snapshot::import::Format::Csv));
});
