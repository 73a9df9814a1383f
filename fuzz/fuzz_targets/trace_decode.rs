//! libFuzzer entry point for [`baton_fuzz::trace_decode`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| baton_fuzz::trace_decode(data));
