//! libFuzzer entry point for [`baton_fuzz::kernel_inputs`].
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| baton_fuzz::kernel_inputs(data));
