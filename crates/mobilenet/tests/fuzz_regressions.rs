//! Issue 9: every input a fuzzer crashed, hung or ran out of memory on, replayed through the
//! same target function (`common/fuzz_harness.rs`). The inputs are in
//! `tests/fixtures/fuzz/<target>/`, one file each, named after what they used to do.

#[path = "common/fuzz_harness.rs"]
mod fuzz_harness;

use std::path::Path;

use fuzz_harness::TARGETS;

#[test]
fn every_saved_fuzz_input_runs_without_a_crash() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz");
    let mut replayed = 0;
    for entry in std::fs::read_dir(&root).expect("tests/fixtures/fuzz exists") {
        let dir = entry.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        let name = dir.file_name().unwrap().to_str().unwrap().to_string();
        let (_, target) = TARGETS
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("{}: no fuzz target of that name", dir.display()));
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for file in files {
            let bytes = std::fs::read(&file).unwrap();
            eprintln!("replaying {}", file.display());
            target(&bytes);
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no saved fuzz inputs under {}",
        root.display()
    );
}

#[test]
fn the_length_prefix_split_inverts_join() {
    let joined = fuzz_harness::join(b"{\"a\":1}", b"tensors");
    assert_eq!(
        fuzz_harness::split(&joined),
        (&b"{\"a\":1}"[..], &b"tensors"[..])
    );
    // A prefix past the end wraps around instead of failing.
    // 4 mod 3 (the bytes after the prefix, plus one) is 1.
    assert_eq!(
        fuzz_harness::split(&[4, 0, 0, 0, 1, 2]),
        (&[1][..], &[2][..])
    );
    // Shorter than the prefix: all of it is the first part.
    assert_eq!(fuzz_harness::split(&[1, 2]), (&[1, 2][..], &[][..]));
}
