//! Tests of the FFI surface as the apps call it. They live inside the crate
//! because the crate builds no rlib: a cdylib built beside an rlib keeps
//! every Rust symbol exported to LLVM, and its calls go through the GOT
//! (docs/benchmarks.md, "Library size").

mod backup;
mod backup_due;
mod checkin_replans_reminders;
mod concurrency;
mod push_register;
