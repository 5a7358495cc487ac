//! Opens arbitrary bytes as a log and reads it: must never panic, hang or
//! fault. The same function runs under proptest in the main test suite
//! (crates/mapped-testkit/tests/arbitrary_logs.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    mapped_testkit::open_arbitrary_log(data);
});
