//! The input is a sequence of operations run against a store and a `HashMap` model (see
//! `ops_model` in the shared checks).
#![no_main]

#[path = "../../crates/simd-r-drive/tests/fuzz_checks/mod.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::ops_model(data));
