//! A client worker against a hostile server whose every choice is the fuzzer's:
//! no panic, no table past its size, every attempt completed, failed or open at
//! every step, nothing left after the drain, nothing sent but to the destination
//! (the checks live in `tests/common/hostile.rs`, shared with `tests/hostile.rs`).
#![no_main]

#[path = "../../tests/common/hostile.rs"]
mod hostile;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hostile::client_session(hostile::FuzzBytes::new(data), 5_000);
});
