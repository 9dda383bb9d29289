//! Embeddings (`MobileNet::features`): the pooled features before the classifier must match
//! the reference frameworks on the shipped photos, for every kernel ISA this CPU runs.
//! Reference figures: `fixtures/embed_reference.json`, written by `tools/embed_reference.py`
//! (TensorFlow on the frozen float graph; LiteRT's reference kernels on Google's uint8
//! embedding extractor), on the same 224×224 pixels (`fixtures/photos_224/`, made by that
//! script), so that the comparison is of the networks and not of two resize filters.

use std::path::{Path, PathBuf};

use mobilenet::image::{load_input, Preprocess};
use mobilenet::{io, pretrained, MobileNet, Tensor};
use serde_json::Value;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn reference() -> Value {
    let p = repo().join("crates/mobilenet/tests/fixtures/embed_reference.json");
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Each reference photo's input for `net`, with the reference's two vectors.
fn photos(net: &MobileNet) -> Vec<(String, Tensor, Vec<f32>, Vec<f32>)> {
    let pre = Preprocess {
        size: net.config().resolution,
        center_crop: None,
        normalization: net.config().normalization,
    };
    let r = reference();
    let photos = r["photos"].as_object().unwrap();
    assert_eq!(photos.len(), 6);
    let floats = |v: &Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    photos
        .iter()
        .map(|(name, want)| {
            let x = load_input(&repo().join(name), &pre).unwrap();
            (
                name.clone(),
                x,
                floats(&want["tf"]),
                floats(&want["litert_uint8"]),
            )
        })
        .collect()
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let n = |v: &[f32]| v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (n(a) * n(b))
}

#[test]
fn builtin_features_match_tensorflow_avgpool() {
    let ckpt = pretrained::builtin().unwrap();
    let net = MobileNet::new(&ckpt, Path::new("builtin")).unwrap();
    assert_eq!(net.feature_dim(), 1024);
    let photos = photos(&net);
    for k in mobilenet_kernels::testing::kernel_tables() {
        // One batch of all six: an image's features do not depend on its batch neighbours.
        let batch = Tensor::stack(&photos.iter().map(|p| p.1.clone()).collect::<Vec<_>>());
        let all = net.features_with(&k, &batch).unwrap();
        for (i, (name, x, tf, _)) in photos.iter().enumerate() {
            let ours = net.features_with(&k, x).unwrap();
            assert_eq!(ours.len(), 1024);
            assert_eq!(
                &all[i * 1024..(i + 1) * 1024],
                &ours[..],
                "{name} ({}): batch",
                k.isa
            );
            let worst = ours
                .iter()
                .zip(tf)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst <= 1e-3,
                "{name} ({}): max |ours - TF| = {worst}",
                k.isa
            );
        }
    }
}

#[test]
fn uint8_extractor_features_match_litert() {
    let path = repo().join(
        "crates/mobilenet/tests/fixtures/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite",
    );
    let ckpt = io::load(&path).unwrap();
    assert_eq!(ckpt.config.classes, 0, "a body-only model");
    let net = MobileNet::new(&ckpt, &path).unwrap();
    assert!(!net.has_classifier());
    assert!(net.predict(&Tensor::zeros([1, 224, 224, 3])).is_err());
    for k in mobilenet_kernels::testing::kernel_tables() {
        for (name, x, _, lite) in photos(&net) {
            let ours = net.features_with(&k, &x).unwrap();
            // A body-only model's forward output is its features.
            assert_eq!(net.forward_with(&k, &x, None).unwrap(), ours);
            let c = cosine(&ours, &lite);
            println!("{name} ({}): cosine {c:.5}", k.isa);
            assert!(c >= 0.99, "{name} ({}): cosine(ours, LiteRT) = {c}", k.isa);
        }
    }
}
