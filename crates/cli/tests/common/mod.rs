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

/// CIFAR-10 binary files: `records` images per file, label = i % 10, pixels a class pattern.
pub fn cifar_bin(dir: &Path, records: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let file = |name: &str, seed: usize| {
        let mut bytes = Vec::new();
        for i in 0..records {
            let label = (i + seed) % 10;
            bytes.push(label as u8);
            for p in 0..3072 {
                bytes.push(((p * (label + 1) + i * 7) % 251) as u8);
            }
        }
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    for b in 1..=5 {
        file(&format!("data_batch_{b}.bin"), b);
    }
    file("test_batch.bin", 0);
}
