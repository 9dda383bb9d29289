#![no_main]

#[path = "../../crates/mobilenet/tests/common/fuzz_harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::torch(data));
