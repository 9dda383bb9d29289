//! ONNX: our export imports back bit for bit (BatchNorm kept), folded exports compute the same
//! network, and broken files give one-line errors naming the file.

use std::path::Path;

use mobilenet::io::onnx::{export_onnx_bytes, import_onnx_bytes, OnnxOptions};
use mobilenet::{Checkpoint, MobileNet, MobileNetConfig, Tensor, Weights};

fn ckpt(config: MobileNetConfig) -> Checkpoint {
    let mut weights = Weights::random(&config, 11);
    // Non-trivial BatchNorm statistics, so that folding changes the weights.
    let names: Vec<String> = weights.iter().map(|(n, _)| n.to_string()).collect();
    for n in names {
        if n.ends_with("running_var") || n.ends_with("running_mean") {
            let mut p = weights.get(&n).unwrap().clone();
            for (i, v) in p.data.iter_mut().enumerate() {
                *v = if n.ends_with("var") {
                    0.5 + (i % 7) as f32 * 0.1
                } else {
                    (i % 5) as f32 * 0.02 - 0.04
                };
            }
            weights.insert(n, p);
        }
    }
    let classes = config.classes;
    Checkpoint {
        config,
        weights,
        labels: (0..classes).map(|c| format!("class {c}")).collect(),
    }
}

fn configs() -> Vec<MobileNetConfig> {
    let mut cifar = MobileNetConfig::cifar();
    cifar.width = 0.25;
    let mut body = MobileNetConfig::v1(0.5, 64, 0);
    // Per-channel statistics survive the metadata round trip.
    body.normalization.mean = [120.0, 110.5, 100.0];
    vec![cifar, MobileNetConfig::v1(0.25, 96, 7), body]
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
fn export_then_import_is_the_identity() {
    for config in configs() {
        let c = ckpt(config);
        let bytes = export_onnx_bytes(&c, Path::new("m.onnx"), OnnxOptions::default()).unwrap();
        let back = import_onnx_bytes(&bytes, Path::new("m.onnx")).unwrap();
        assert!(back == c, "{:?} vs {:?}", back.config, c.config);
        // And again: export of the import is the same bytes.
        let again = export_onnx_bytes(&back, Path::new("m.onnx"), OnnxOptions::default()).unwrap();
        assert_eq!(again, bytes);
    }
}

#[test]
fn folded_export_computes_the_same_network() {
    for config in configs() {
        let c = ckpt(config);
        let opts = OnnxOptions {
            fold_batch_norm: true,
        };
        let bytes = export_onnx_bytes(&c, Path::new("f.onnx"), opts).unwrap();
        let back = import_onnx_bytes(&bytes, Path::new("f.onnx")).unwrap();
        assert!(!back.config.batch_norm);
        let want = c.fold_batch_norm();
        // ε has no meaning without BatchNorm; everything else must match exactly.
        let mut got = back.clone();
        got.config.bn_eps = want.config.bn_eps;
        assert!(got == want, "{:?} vs {:?}", got.config, want.config);
        let (a, b) = (outputs(&c), outputs(&back));
        let diff = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-4, "{:?}: max difference {diff}", c.config.variant);
    }
}

#[test]
fn broken_files_name_the_file_and_the_fault() {
    let c = ckpt(configs().remove(0));
    let bytes = export_onnx_bytes(&c, Path::new("x.onnx"), OnnxOptions::default()).unwrap();
    let p = Path::new("bad.onnx");
    for cut in [0, 1, 100, bytes.len() / 2, bytes.len() - 1] {
        let e = import_onnx_bytes(&bytes[..cut], p).unwrap_err().to_string();
        assert!(e.starts_with("bad.onnx: "), "{e}");
        assert!(!e.contains('\n'), "{e}");
    }
    // A node that reads a tensor nobody defines (a dropped initializer).
    use mobilenet::io::onnx::proto::ModelProto;
    use prost::Message;
    let mut m = ModelProto::decode(&bytes[..]).unwrap();
    let g = m.graph.as_mut().unwrap();
    g.initializer.retain(|t| t.name != "blocks.3.pw.weight");
    let e = import_onnx_bytes(&m.encode_to_vec(), p)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("blocks.3.pw") && e.contains("blocks.3.pw.weight"),
        "{e}"
    );
    // Nodes out of order (as a cycle reads).
    let mut m = ModelProto::decode(&bytes[..]).unwrap();
    m.graph.as_mut().unwrap().node.swap(3, 5);
    let e = import_onnx_bytes(&m.encode_to_vec(), p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("earlier node"), "{e}");
    // A foreign op on the main path.
    let mut m = ModelProto::decode(&bytes[..]).unwrap();
    m.graph.as_mut().unwrap().node[2].op_type = "Sigmoid".into();
    let e = import_onnx_bytes(&m.encode_to_vec(), p)
        .unwrap_err()
        .to_string();
    assert!(e.contains("Sigmoid"), "{e}");
    // A huge declared size with no data.
    let mut m = ModelProto::decode(&bytes[..]).unwrap();
    m.graph.as_mut().unwrap().initializer[2].dims = vec![1 << 40, 1 << 30];
    let e = import_onnx_bytes(&m.encode_to_vec(), p)
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("bad.onnx: "), "{e}");
}

#[test]
fn a_tf2onnx_graph_of_keras_mobilenet_computes_kerass_probabilities() {
    // NHWC input + Transpose, BatchNorm left by tf2onnx as per-channel Mul/Add, Clip, explicit
    // Pads, a 1×1 Conv classifier between Reshapes (tools/make_tf2onnx_fixture.py).
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let path = dir.join("tf2onnx_keras_a025.onnx");
    let ck = import_onnx_bytes(&std::fs::read(&path).unwrap(), &path).unwrap();
    let c = &ck.config;
    assert_eq!((c.width, c.resolution, c.classes), (0.25, 64, 10));
    assert_eq!(c.padding, mobilenet::PaddingMode::TfSame);
    let st = std::fs::read(dir.join("tf2onnx_reference.safetensors")).unwrap();
    let w = mobilenet::io::native::weights_from_bytes(&st, Path::new("ref")).unwrap();
    let x = w.get("input").unwrap();
    let net = MobileNet::new(&ck, Path::new("mem")).unwrap();
    let got = net
        .predict(&Tensor::from_vec([2, 64, 64, 3], x.data.clone()))
        .unwrap();
    let want = &w.get("probabilities").unwrap().data;
    let diff = got
        .iter()
        .zip(want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f32::max);
    assert!(diff < 1e-4, "max |ours - Keras| = {diff}");
}
