//! libFuzzer entry point for [`baton_fuzz::snapshot_decode`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| baton_fuzz::snapshot_decode(data));
