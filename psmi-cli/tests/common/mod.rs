//! What the program's tests share: the library's test helpers (data generators,
//! hand-made files; one copy, in psmi-std/tests/common) and runs of the program.
#![allow(dead_code)]

#[path = "../../../psmi-std/tests/common/mod.rs"]
mod library;
pub use library::*;

pub mod program;
