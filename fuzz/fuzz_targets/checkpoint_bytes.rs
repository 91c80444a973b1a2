//! The input is the index checkpoint (`<store>.srd-index`) of a small valid store: the
//! check puts the store file's inode in and recomputes the checkpoint's checksum, so that
//! the fuzzer explores the fields behind them. Opening the store must never panic, and must
//! give the index the whole log gives, or else `verify()` must report the checkpoint (see
//! `checkpoint_bytes` in the shared checks).
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/simd-r-drive/tests/fuzz_checks/mod.rs"]
mod checks;

fuzz_target!(|data: &[u8]| checks::checkpoint_bytes(data));
