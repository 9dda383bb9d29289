#![no_main]

#[path = "../../crates/mobilenet/tests/common/fuzz_harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(
    init: {
        // `decode_rgb` turns a panic inside the `image` crate into an error with
        // `catch_unwind`. libFuzzer's panic hook aborts before that can happen, so it is put
        // back to the default one: a panic that escapes still aborts, in libfuzzer-sys.
        let _ = std::panic::take_hook();
    },
    |data: &[u8]| harness::image(data)
);
