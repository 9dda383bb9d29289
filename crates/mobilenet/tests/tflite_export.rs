//! TFLite export: the float32 flatbuffer we write imports back to the same (folded) network,
//! bit for bit, for every padding style and variant the writer takes; Google's file survives
//! import → export → import unchanged.

use std::path::Path;

use mobilenet::io::tflite::{export_tflite_bytes, import_tflite_bytes};
use mobilenet::{Checkpoint, MobileNet, MobileNetConfig, PaddingMode, Tensor, Variant, Weights};

fn ckpt(config: MobileNetConfig) -> Checkpoint {
    let mut weights = Weights::random(&config, 7);
    let names: Vec<String> = weights.iter().map(|(n, _)| n.to_string()).collect();
    for n in names.iter().filter(|n| n.ends_with("running_var")) {
        let mut p = weights.get(n).unwrap().clone();
        for (i, v) in p.data.iter_mut().enumerate() {
            *v = 0.5 + (i % 7) as f32 * 0.1;
        }
        weights.insert(n.clone(), p);
    }
    let classes = config.classes;
    Checkpoint {
        config,
        weights,
        labels: (0..classes).map(|c| format!("class {c}")).collect(),
    }
}

fn configs() -> Vec<MobileNetConfig> {
    let cifar = MobileNetConfig {
        width: 0.25,
        ..MobileNetConfig::cifar()
    };
    // PyTorch-style symmetric padding on the ImageNet network (timm): explicit PADs at stride 2.
    let symmetric = MobileNetConfig {
        padding: PaddingMode::Symmetric,
        normalization: mobilenet::Normalization::IMAGENET,
        ..MobileNetConfig::v1(0.25, 64, 5)
    };
    let shallow = MobileNetConfig {
        variant: Variant::Shallow,
        ..MobileNetConfig::v1(0.5, 96, 3)
    };
    vec![
        cifar,
        symmetric,
        shallow,
        MobileNetConfig::v1(0.25, 96, 7),
        MobileNetConfig::v1(0.5, 64, 0),
        // Below α = 1/4 the stem's 32·α is clamped to 8 channels: α is read from the last
        // pointwise layer's 1024·α (found by fuzzing's seeds: this used to import as α 1/4).
        MobileNetConfig::v1(0.0625, 32, 3),
    ]
}

fn outputs(c: &Checkpoint) -> Vec<f32> {
    let net = MobileNet::new(c, Path::new("mem")).unwrap();
    let [h, w, _] = net.input_hwc();
    let x: Vec<f32> = (0..2 * h * w * 3)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    net.forward(&Tensor::from_vec([2, h, w, 3], x)).unwrap()
}

#[test]
fn export_then_import_is_the_folded_network_bit_for_bit() {
    let p = Path::new("m.tflite");
    for config in configs() {
        let c = ckpt(config);
        let bytes = export_tflite_bytes(&c, p).unwrap();
        let back = import_tflite_bytes(&bytes, p).unwrap();
        let mut want = c.fold_batch_norm();
        // ε has no meaning once BatchNorm is folded; TFLite does not store it.
        want.config.bn_eps = back.config.bn_eps;
        assert!(back == want, "{:?}\nvs\n{:?}", back.config, want.config);
        // And again: the export of the import is the same bytes.
        assert_eq!(
            export_tflite_bytes(&back, p).unwrap(),
            bytes,
            "{:?}",
            c.config
        );
        let (a, b) = (outputs(&c), outputs(&back));
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max);
        assert!(diff < 1e-4, "{:?}: {diff}", c.config);
    }
}

#[test]
fn googles_quantized_file_round_trips_through_our_float_export() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mobilenet_v1_0.25_128_quant.tflite");
    let first = import_tflite_bytes(&std::fs::read(&path).unwrap(), &path).unwrap();
    let bytes = export_tflite_bytes(&first, Path::new("f.tflite")).unwrap();
    let back = import_tflite_bytes(&bytes, Path::new("f.tflite")).unwrap();
    assert!(back == first, "{:?} vs {:?}", back.config, first.config);
}

#[test]
fn the_full_conv_variant_is_refused_by_name() {
    let c = ckpt(MobileNetConfig {
        variant: Variant::FullConv,
        ..MobileNetConfig::v1(0.25, 64, 3)
    });
    let err = export_tflite_bytes(&c, Path::new("x.tflite"))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("x.tflite: unsupported: the full-conv variant"),
        "{err}"
    );
}

#[test]
fn a_damaged_export_is_an_error_never_a_panic() {
    // The CIFAR network: its stride-2 layers carry explicit PADs, read by their own code path.
    let c = ckpt(MobileNetConfig {
        width: 0.25,
        ..MobileNetConfig::cifar()
    });
    let bytes = export_tflite_bytes(&c, Path::new("c.tflite")).unwrap();
    for n in (0..bytes.len()).step_by(4093) {
        let err = import_tflite_bytes(&bytes[..n], Path::new("cut.tflite")).unwrap_err();
        assert!(err.to_string().starts_with("cut.tflite: "), "{n}: {err}");
    }
    // Flip bytes outside the weight buffers' data (the flatbuffer's tables and vectors).
    let step = (bytes.len() / 3000).max(1);
    for i in (0..bytes.len()).step_by(step) {
        let mut b = bytes.clone();
        b[i] ^= 0xFF;
        let _ = import_tflite_bytes(&b, Path::new("flip.tflite"));
    }
}
