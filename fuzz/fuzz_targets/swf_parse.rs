//! libFuzzer entry point for [`baton_fuzz::swf_parse`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| baton_fuzz::swf_parse(data));
