//! Shared by the CLI test binaries: run the built `mobilenet` binary, find the repository.

#![allow(dead_code)] // each test binary uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the `mobilenet` binary under test with `args`.
pub fn mobilenet(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mobilenet"))
        .args(args)
        .output()
        .expect("binary runs")
}

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
