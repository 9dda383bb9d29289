//! Google's uint8 TFLite models, dequantized into our float engine, must pick the same top-1
//! class as the TFLite reference runtime on real photos. The reference figures are in
//! `fixtures/tflite_reference.json`, written by `tools/tflite_reference.py` (ai-edge-litert,
//! reference kernels, PIL bilinear resize of the whole image).
//!
//! Every kernel ISA this CPU runs is checked (`testing::kernel_tables`). The 0.25/128 model and
//! the photos ship as fixtures; the 0.5/160 and 0.75/192 models are read
//! from `../shared/data/imagenet/` and skipped, with a notice, where that folder is absent.

use std::path::{Path, PathBuf};

use mobilenet::image::{load_input, Preprocess};
use mobilenet::{io, pretrained, top_k, MobileNet};
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn model_path(name: &str) -> Option<PathBuf> {
    let shipped = fixtures().join(format!("{name}.tflite"));
    let shared = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../../../shared/data/imagenet/{name}.tflite"));
    [shipped, shared].into_iter().find(|p| p.exists())
}

fn photo_path(name: &str) -> PathBuf {
    if name == "parrot.jpg" {
        return Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/parrot.jpg");
    }
    fixtures().join("photos").join(name.replace(".bmp", ".png"))
}

fn check_model(name: &str) {
    let reference: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("tflite_reference.json")).unwrap())
            .unwrap();
    let Some(path) = model_path(name) else {
        println!("skipping {name}: not shipped and ../shared/data/imagenet is absent");
        return;
    };
    let mut ckpt = io::load(&path).unwrap();
    ckpt.labels = pretrained::imagenet_labels();
    let net = MobileNet::new(&ckpt, &path).unwrap();
    let pre = Preprocess {
        size: net.config().resolution,
        center_crop: None,
        normalization: net.config().normalization,
    };
    let photos = reference["models"][name]["photos"]
        .as_object()
        .expect("model in fixture");
    assert_eq!(photos.len(), 6);
    let inputs: Vec<_> = photos
        .iter()
        .map(|(photo, want)| (photo, want, load_input(&photo_path(photo), &pre).unwrap()))
        .collect();
    for k in mobilenet_kernels::testing::kernel_tables() {
        for (photo, want, x) in &inputs {
            check_photo(name, &net, &k, photo, want, x);
        }
    }
}

fn check_photo(
    name: &str,
    net: &MobileNet,
    k: &mobilenet_kernels::Kernels,
    photo: &str,
    want: &Value,
    x: &mobilenet::Tensor,
) {
    let isa = k.isa;
    let logits = net.forward_with(k, x, None).unwrap();
    let probs = mobilenet::layers::softmax::softmax_forward(net.config().classes, &logits);
    let top = top_k(&probs, 3, net.labels());
    let want_top1 = want["top"][0]["index"].as_u64().unwrap() as usize;
    assert_eq!(
        top[0].index, want_top1,
        "{name} on {photo} ({isa}): ours {top:?}, TFLite {}",
        want["top"]
    );
    // The named expectations hold for every model.
    match photo {
        "parrot.jpg" => assert_eq!(top[0].label, "macaw", "{isa}"),
        "bird.bmp" => assert_eq!(top[0].label, "chickadee", "{isa}"),
        "cat.bmp" => assert!(
            (282..=286).contains(&top[0].index),
            "{isa}: {top:?} is not a cat class"
        ),
        _ => {}
    }
}

#[test]
fn alpha_0_25_128_agrees_with_tflite() {
    check_model("mobilenet_v1_0.25_128_quant");
}

#[test]
fn alpha_0_5_160_agrees_with_tflite() {
    check_model("mobilenet_v1_0.5_160_quant");
}

#[test]
fn alpha_0_75_192_agrees_with_tflite() {
    check_model("mobilenet_v1_0.75_192_quant");
}
