#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kassa_fuzz::targets::address(data));
