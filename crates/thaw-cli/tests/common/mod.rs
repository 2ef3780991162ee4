//! Helpers shared by the CLI test binaries (each `tests/*.rs` is a crate of
//! its own and uses what it needs).
#![allow(dead_code)]
use std::path::PathBuf;
use std::process::{Command, Output};

/// The repository root: the commands run from there, as in the README.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// `thaw ARGS` from the repository root.
pub fn thaw(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_thaw"))
        .current_dir(root())
        .args(args)
        .output()
        .expect("thaw runs")
}
