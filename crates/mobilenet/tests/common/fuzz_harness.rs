//! What each fuzz target does with its input: one function per parser, shared by the libFuzzer
//! targets in `fuzz/fuzz_targets/` and by `tests/fuzz_regressions.rs`, which replays every
//! input a fuzzer ever crashed on (`tests/fixtures/fuzz/<target>/`). A function may return
//! quietly on any input; a panic, an abort, a hang or an allocation past libFuzzer's limit is
//! the bug the fuzzer looks for.
//!
//! A model that imports is used the way `predict`, `train --init` and `export` use it: built
//! into an inference network (and run once when it is small), built into a training network,
//! summarized, and written back out in every format we write.

// Each fuzz target uses one of these functions.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mobilenet::data::{Dataset, Split};
use mobilenet::image::{decode_rgb, normalize, resize, Preprocess};
use mobilenet::io::names::TorchFamily;
use mobilenet::io::onnx::{export_onnx_bytes, OnnxOptions};
use mobilenet::io::{hdf5, keras, native, npy, onnx, tf_graphdef, tflite, torch};
use mobilenet::train::{TrainNet, Trainer};
use mobilenet::{Checkpoint, MobileNet, Normalization, Result, Summary, Tensor};

/// What a target does with one input.
pub type Target = fn(&[u8]);

/// Every target, by the name of its `fuzz/fuzz_targets/<name>.rs` and corpus folder.
pub const TARGETS: &[(&str, Target)] = &[
    ("tflite", tflite),
    ("onnx", onnx),
    ("graphdef", graphdef),
    ("torch", torch),
    ("pickle", pickle),
    ("keras", keras),
    ("hdf5", hdf5),
    ("native", native),
    ("checkpoint", checkpoint),
    ("image", image),
    ("cifar_bin", cifar_bin),
    ("npy", npy),
];

/// The largest network a target runs a forward pass through (multiply-accumulates), so that one
/// input stays well under libFuzzer's time limit.
const MAX_FORWARD_MACS: u64 = 20_000_000;

pub fn tflite(data: &[u8]) {
    import_and_use(data, "fuzz.tflite", tflite::import_tflite_bytes);
}

pub fn onnx(data: &[u8]) {
    // External data would be looked up beside the model: there is no such folder.
    import_and_use(
        data,
        "/nonexistent-fuzz-dir/fuzz.onnx",
        onnx::import_onnx_bytes,
    );
}

pub fn graphdef(data: &[u8]) {
    import_and_use(data, "fuzz.pb", tf_graphdef::import_graphdef_bytes);
}

/// A `torch.save` ZIP or a safetensors file with PyTorch's names, as `io::load` tells them.
pub fn torch(data: &[u8]) {
    import_and_use(data, "fuzz.pt", torch::import_torch_bytes);
}

/// The unpickler alone (inside a ZIP most mutations would only break the container).
pub fn pickle(data: &[u8]) {
    let _ = torch::pickle::unpickle(data);
}

pub fn keras(data: &[u8]) {
    import_and_use(data, "fuzz.h5", keras::import_keras_bytes);
}

/// The HDF5 reader alone: every dataset it finds.
pub fn hdf5(data: &[u8]) {
    let _ = hdf5::datasets(data);
}

/// Our own model: `model.json` + `model.safetensors`. The input is split in two by its first
/// four bytes (little-endian JSON length, taken modulo what is there).
pub fn native(data: &[u8]) {
    let (json, st) = split(data);
    let json_path = Path::new("fuzz.json");
    let st_path = Path::new("fuzz.safetensors");
    if let Ok(ckpt) = native::from_bytes(json, json_path, st, st_path) {
        use_model(&ckpt, st_path);
    }
    let _ = native::weights_from_bytes(st, st_path);
}

/// A training checkpoint (`checkpoint.safetensors` with the run's state), resumed against a
/// data set of four 32 × 32 images in two classes, as `train --resume DIR` does.
pub fn checkpoint(data: &[u8]) {
    let dir = scratch_dir("checkpoint");
    if std::fs::write(dir.join("checkpoint.safetensors"), data).is_err() {
        return;
    }
    let train = Arc::new(
        Dataset::from_raw(
            vec![128; 4 * 32 * 32 * 3],
            vec![0, 1, 0, 1],
            (32, 32),
            vec!["a".into(), "b".into()],
        )
        .expect("a valid data set"),
    );
    let _ = Trainer::resume(&dir, &dir, None, train.clone(), Some(train));
}

/// An image file: decoded, resized and normalized as `predict` does.
pub fn image(data: &[u8]) {
    if let Ok(img) = decode_rgb(data, Path::new("fuzz.img")) {
        for center_crop in [None, Some(0.875)] {
            let p = Preprocess {
                size: 32,
                center_crop,
                normalization: Normalization::TF,
            };
            let _ = normalize(&resize(&img, &p), p.normalization);
        }
    }
}

/// The CIFAR-10 binary test split (`test_batch.bin`); when the first byte is odd, the input up
/// to its first NUL byte is `batches.meta.txt` (the class names) and the rest the records.
pub fn cifar_bin(data: &[u8]) {
    let dir = scratch_dir("cifar_bin");
    let (meta, records) = match data.split_first() {
        Some((&flag, rest)) if flag & 1 == 1 => match rest.iter().position(|&b| b == 0) {
            Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
            None => (Some(rest), &[][..]),
        },
        Some((_, rest)) => (None, rest),
        None => (None, data),
    };
    let meta_path = dir.join("batches.meta.txt");
    let written = match meta {
        Some(m) => std::fs::write(&meta_path, m),
        None => std::fs::remove_file(&meta_path).or(Ok(())),
    };
    if written.is_err() || std::fs::write(dir.join("test_batch.bin"), records).is_err() {
        return;
    }
    let _ = Dataset::open(&dir, Split::Test, None);
    let _ = Dataset::open(&dir, Split::Test, Some((8, 8)));
}

pub fn npy(data: &[u8]) {
    let _ = npy::parse_f32(data, Path::new("fuzz.npy"));
}

/// Imports `data` as the file `path` with `import`; uses the model if it imports.
fn import_and_use(data: &[u8], path: &str, import: fn(&[u8], &Path) -> Result<Checkpoint>) {
    let path = Path::new(path);
    if let Ok(ckpt) = import(data, path) {
        use_model(&ckpt, path);
    }
}

/// What the tool does with an imported model.
fn use_model(ckpt: &Checkpoint, path: &Path) {
    let summary = Summary::new(&ckpt.config);
    if let Ok(net) = MobileNet::new(ckpt, path) {
        let [h, w, c] = net.input_hwc();
        if summary.macs <= MAX_FORWARD_MACS {
            let _ = net.forward(&Tensor::zeros([1, h, w, c]));
        }
    }
    let _ = TrainNet::from_checkpoint(ckpt, path);
    let _ = native::weights_to_bytes(&ckpt.weights, path);
    let _ = export_onnx_bytes(ckpt, path, OnnxOptions::default());
    let _ = tflite::export_tflite_bytes(ckpt, path);
    let _ = torch::state_dict_bytes(ckpt, TorchFamily::PytorchCifar, path);
}

/// Splits `data` after a 4-byte little-endian length prefix (modulo the bytes that follow).
pub fn split(data: &[u8]) -> (&[u8], &[u8]) {
    let Some((head, rest)) = data.split_first_chunk::<4>() else {
        return (data, &[]);
    };
    let n = u32::from_le_bytes(*head) as usize % (rest.len() + 1);
    rest.split_at(n)
}

/// `split`'s inverse, for making seeds.
pub fn join(first: &[u8], second: &[u8]) -> Vec<u8> {
    let mut out = (first.len() as u32).to_le_bytes().to_vec();
    out.extend_from_slice(first);
    out.extend_from_slice(second);
    out
}

/// A folder of this process's own under the system's temporary directory, for targets whose
/// parser reads from a folder.
pub fn scratch_dir(target: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mobilenet-fuzz-{target}-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}
