//! Keras: weight files that Keras 3 itself wrote (`tools/make_keras_fixtures.py`), in both of its
//! HDF5 layouts, import and compute Keras's outputs; broken files give one-line errors.

use std::path::{Path, PathBuf};

use mobilenet::io::{self, keras::import_keras_bytes, native};
use mobilenet::{Activation, Checkpoint, MobileNet, PaddingMode, Tensor, Variant};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn reference(name: &str) -> (Vec<usize>, Vec<f32>) {
    let bytes = std::fs::read(fixture("keras_reference.safetensors")).unwrap();
    let w = native::weights_from_bytes(&bytes, Path::new("keras_reference")).unwrap();
    let p = w.get(name).unwrap_or_else(|| panic!("{name}"));
    (p.shape.clone(), p.data.clone())
}

fn assert_matches(ckpt: &Checkpoint, want: &str) {
    let (shape, x) = reference("input");
    let mut ckpt = ckpt.clone();
    ckpt.config.resolution = shape[1];
    let net = MobileNet::new(&ckpt, Path::new("mem")).unwrap();
    let x = Tensor::from_vec([shape[0], shape[1], shape[2], shape[3]], x);
    let got = if net.has_classifier() {
        net.predict(&x).unwrap()
    } else {
        net.features(&x).unwrap()
    };
    let (_, want_v) = reference(want);
    assert_eq!(got.len(), want_v.len());
    let diff = got
        .iter()
        .zip(&want_v)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-4, "{want}: max |ours - Keras| = {diff}");
}

#[test]
fn keras3_weights_h5_computes_keras_probabilities() {
    let ck = io::load(&fixture("keras_a025_top.weights.h5")).unwrap();
    let c = &ck.config;
    assert_eq!(
        (c.variant, c.width, c.classes),
        (Variant::Imagenet, 0.25, 10)
    );
    assert_eq!(
        (c.activation, c.padding),
        (Activation::Relu6, PaddingMode::TfSame)
    );
    assert_eq!(c.bn_eps, 1e-3);
    assert_matches(&ck, "top.probabilities");
}

#[test]
fn legacy_h5_without_top_is_a_feature_extractor_with_kerass_features() {
    let ck = io::load(&fixture("keras_a025_notop.h5")).unwrap();
    assert_eq!(ck.config.classes, 0);
    assert_matches(&ck, "notop.features");
}

#[test]
fn broken_files_are_one_line_errors_naming_the_file() {
    let bytes = std::fs::read(fixture("keras_a025_top.weights.h5")).unwrap();
    for n in (0..bytes.len()).step_by(4999).chain([bytes.len() - 1]) {
        let err = import_keras_bytes(&bytes[..n], Path::new("cut.h5"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cut.h5: "), "{n}: {err}");
        assert!(!err.contains('\n'));
    }
    // Byte flips anywhere in the first 8 KB (superblock, headers, B-trees, heaps): never a
    // panic, a hang or a huge allocation.
    for i in (0..bytes.len().min(8192)).step_by(7) {
        let mut b = bytes.clone();
        b[i] ^= 0xA5;
        let _ = import_keras_bytes(&b, Path::new("flip.h5"));
    }
    // A dataset renamed: the parameter it held is named as missing.
    let mut b = bytes.clone();
    let from = b"conv2d_7";
    let at = b.windows(from.len()).position(|w| w == from).unwrap();
    b[at + 7] = b'x';
    let err = import_keras_bytes(&b, Path::new("r.h5"))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "r.h5: missing parameter `conv2d_7/0`");
}
