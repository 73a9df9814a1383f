//! libFuzzer entry point for [`baton_fuzz::scenario_decode`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| baton_fuzz::scenario_decode(data));
