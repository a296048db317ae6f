//! A server worker against hostile clients whose every choice is the fuzzer's:
//! no panic, no table past its size, every accepted connection completed, failed
//! or open at every step, nothing left after the drain, nothing sent but from its
//! own address (the checks live in `tests/common/hostile.rs`).
#![no_main]

#[path = "../../tests/common/hostile.rs"]
mod hostile;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    hostile::server_session(hostile::FuzzBytes::new(data), 5_000);
});
