//! Import of Google's MobileNet v1 files: the TF-Slim frozen GraphDef and the uint8 TFLite
//! models, plus hostile inputs (empty, truncated, random, valid container without MobileNet)
//! that must give a typed error naming the file, never a panic.
//!
//! The real files live in `../shared/data/imagenet/` beside the workspace; tests that need one
//! that is absent print `skipping: <path> not found`. The α 0.25/128 TFLite model is copied
//! into `tests/fixtures/` (Apache-2.0, google-coral/test_data, see the NOTICE there), and the
//! GraphDef cases build a synthetic graph, so those run on a fresh clone.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use mobilenet::io::tf_graphdef::proto::{
    attr_value::Value, AttrValue, Dim, GraphDef, NodeDef, TensorProto, TensorShapeProto, DT_FLOAT,
};
use mobilenet::io::tf_graphdef::{import_graphdef, import_graphdef_bytes};
use mobilenet::io::tflite::{import_tflite, import_tflite_bytes};
use mobilenet::{Activation, Error, MobileNetConfig, Normalization, PaddingMode};
use prost::Message;

fn shared(name: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/imagenet")
        .join(name);
    if path.exists() {
        Some(path)
    } else {
        eprintln!("skipping: {} not found", path.display());
        None
    }
}

/// A small deterministic byte generator (xorshift64*), for "random" files.
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
        })
        .collect()
}

/// `err` names `path`'s file in its message.
fn names_file(err: &Error, path: &Path) -> bool {
    let file = path.file_name().unwrap().to_string_lossy();
    err.to_string().contains(file.as_ref())
}

// ---------------------------------------------------------------------------------------------
// GraphDef

fn const_node(name: &str, shape: &[usize], values: &[f32]) -> NodeDef {
    let tensor = TensorProto {
        dtype: DT_FLOAT,
        tensor_shape: Some(TensorShapeProto {
            dim: shape.iter().map(|&d| Dim { size: d as i64 }).collect(),
            unknown_rank: false,
        }),
        tensor_content: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        float_val: Vec::new(),
    };
    NodeDef {
        name: name.into(),
        op: "Const".into(),
        input: Vec::new(),
        attr: HashMap::from([(
            "value".to_string(),
            AttrValue {
                value: Some(Value::Tensor(tensor)),
            },
        )]),
    }
}

/// A TF-Slim MobileNet v1 graph at `config`, in TF's names and layouts, with small
/// deterministic values. Variances use a one-value `float_val` broadcast.
fn synthetic_graph(config: &MobileNetConfig) -> GraphDef {
    let mut node = vec![NodeDef {
        name: "input".into(),
        op: "Placeholder".into(),
        input: Vec::new(),
        attr: HashMap::from([(
            "shape".to_string(),
            AttrValue {
                value: Some(Value::Shape(TensorShapeProto {
                    dim: [1, config.resolution as i64, config.resolution as i64, 3]
                        .map(|size| Dim { size })
                        .to_vec(),
                    unknown_rank: false,
                })),
            },
        )]),
    }];
    for (name, shape) in config.param_shapes() {
        let (tf, layout) = mobilenet::io::names::tf_slim_name(&name).unwrap();
        let tf_shape = mobilenet::io::layout::to_tf_slim_shape(layout, &shape).unwrap();
        let n: usize = shape.iter().product();
        let mut c = const_node(
            &tf,
            &tf_shape,
            &(0..n).map(|i| (i % 7) as f32 * 0.125).collect::<Vec<_>>(),
        );
        if tf.ends_with("moving_variance") {
            if let Some(Value::Tensor(t)) = &mut c.attr.get_mut("value").unwrap().value {
                t.tensor_content.clear();
                t.float_val = vec![0.5];
            }
        }
        node.push(c);
    }
    // Unrelated nodes an importer must skip.
    node.push(const_node(
        "final_training_ops/weights",
        &[1001, 2],
        &[0.0; 2002],
    ));
    node.push(NodeDef {
        name: "MobilenetV1/Conv2d_0/weights/read".into(),
        op: "Identity".into(),
        input: vec!["MobilenetV1/Conv2d_0/weights".into()],
        attr: HashMap::new(),
    });
    GraphDef { node }
}

#[test]
fn synthetic_graphdef_imports() {
    let config = MobileNetConfig::v1(0.25, 128, 11);
    let bytes = synthetic_graph(&config).encode_to_vec();
    let ck = import_graphdef_bytes(&bytes, Path::new("synthetic.pb")).unwrap();
    assert_eq!(ck.config, config);
    assert_eq!(ck.weights.len(), config.param_shapes().len());
    let var = ck.weights.get("blocks.3.pw.bn.running_var").unwrap();
    assert!(var.data.iter().all(|&v| v == 0.5));
    let w = ck.weights.get("blocks.0.dw.weight").unwrap();
    assert_eq!(w.shape, [3, 3, 8]);
    assert_eq!(w.data[8], 1.0 * 0.125);
    assert!(ck.labels.is_empty());
}

#[test]
fn graphdef_bn_eps_comes_from_the_graph() {
    let config = MobileNetConfig::v1(0.25, 128, 11);
    let mut graph = synthetic_graph(&config);
    // Unfused TF-Slim BatchNorm: `(var + y)` with y a constant.
    graph.node.push(const_node(
        "MobilenetV1/MobilenetV1/Conv2d_0/BatchNorm/batchnorm/add/y",
        &[],
        &[1e-5],
    ));
    let ck = import_graphdef_bytes(&graph.encode_to_vec(), Path::new("eps.pb")).unwrap();
    assert_eq!(ck.config.bn_eps, 1e-5);
}

#[test]
fn google_graphdef_imports() {
    let Some(path) = shared("mobilenet_v1_1.0_224_frozen.pb") else {
        return;
    };
    let ck = import_graphdef(&path).unwrap();
    let c = &ck.config;
    assert_eq!((c.width, c.resolution, c.classes), (1.0, 224, 1001));
    assert!(c.batch_norm);
    assert_eq!(c.bn_eps, 1e-3);
    assert_eq!(c.padding, PaddingMode::TfSame);
    assert_eq!(c.activation, Activation::Relu6);
    assert_eq!(c.normalization, Normalization::TF);
    assert_eq!(ck.weights.len(), c.param_shapes().len());
    // Paper Table 1 at 1000 classes: 4,253,864 values with BN running statistics; Google's
    // head has 1001 (index 0 = background), one more row of 1024 weights and a bias.
    let total: usize = ck.weights.iter().map(|(_, p)| p.data.len()).sum();
    assert_eq!(total, 4_253_864 + 1024 + 1);
}

#[test]
fn bad_graphdefs_are_corrupt_not_panics() {
    let config = MobileNetConfig::v1(0.25, 128, 11);
    let good = synthetic_graph(&config).encode_to_vec();
    let path = Path::new("bad_model.pb");
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("random", random_bytes(4096, 7)),
        ("truncated", good[..1000].to_vec()),
    ];
    for cut in [1, good.len() / 3, good.len() / 2, good.len() - 1] {
        cases.push(("truncated", good[..cut].to_vec()));
    }
    for (what, bytes) in cases {
        match import_graphdef_bytes(&bytes, path) {
            Err(e @ Error::Corrupt { .. }) => assert!(names_file(&e, path), "{what}: {e}"),
            // A cut at a message boundary decodes to a graph lacking later tensors.
            Err(e @ Error::MissingParam { .. }) if what == "truncated" => {
                assert!(names_file(&e, path), "{what}: {e}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    if let Some(real) = shared("mobilenet_v1_1.0_224_frozen.pb") {
        let bytes = std::fs::read(&real).unwrap();
        let e = import_graphdef_bytes(&bytes[..1000], &real).unwrap_err();
        assert!(matches!(e, Error::Corrupt { .. }), "{e}");
        assert!(names_file(&e, &real), "{e}");
    }
}

#[test]
fn graphdef_without_mobilenet_is_missing_param() {
    let path = Path::new("other_model.pb");
    let graph = GraphDef {
        node: vec![const_node("dense/kernel", &[2, 2], &[1.0; 4])],
    };
    let e = import_graphdef_bytes(&graph.encode_to_vec(), path).unwrap_err();
    assert!(
        matches!(&e, Error::MissingParam { name, .. } if name == "stem.weight"),
        "{e}"
    );
    assert!(names_file(&e, path), "{e}");
}

#[test]
fn graphdef_wrong_shape_is_param_shape() {
    let config = MobileNetConfig::v1(0.5, 160, 1001);
    let mut graph = synthetic_graph(&config);
    let dw = "MobilenetV1/Conv2d_4_depthwise/depthwise_weights";
    let node = graph.node.iter_mut().find(|n| n.name == dw).unwrap();
    // (3, 3, 64, 1) stored as (3, 3, 32, 2): same count, wrong layout.
    *node = const_node(dw, &[3, 3, 32, 2], &[0.0; 576]);
    let path = Path::new("wrong_shape.pb");
    let e = import_graphdef_bytes(&graph.encode_to_vec(), path).unwrap_err();
    assert!(
        matches!(&e, Error::ParamShape { name, got, .. } if name == "blocks.3.dw.weight" && got == &[3, 3, 32, 2]),
        "{e}"
    );
    assert!(names_file(&e, path), "{e}");
}

#[test]
fn graphdef_short_tensor_content_is_corrupt() {
    let config = MobileNetConfig::v1(0.25, 128, 11);
    let mut graph = synthetic_graph(&config);
    let name = "MobilenetV1/Conv2d_2_pointwise/weights";
    let node = graph.node.iter_mut().find(|n| n.name == name).unwrap();
    if let Some(Value::Tensor(t)) = &mut node.attr.get_mut("value").unwrap().value {
        t.tensor_content.truncate(12);
    }
    let path = Path::new("short.pb");
    let e = import_graphdef_bytes(&graph.encode_to_vec(), path).unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains(name), "{e}");
    assert!(names_file(&e, path), "{e}");
}

// ---------------------------------------------------------------------------------------------
// TFLite

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

const QUANT_025: &str = "mobilenet_v1_0.25_128_quant.tflite";

fn check_quant_model(path: &Path, width: f32, resolution: usize) -> mobilenet::Checkpoint {
    let ck = import_tflite(path).unwrap();
    let c = &ck.config;
    assert_eq!(
        (c.width, c.resolution, c.classes),
        (width, resolution, 1001)
    );
    assert!(!c.batch_norm);
    assert_eq!(c.activation, Activation::Relu6);
    assert_eq!(c.padding, PaddingMode::TfSame);
    // Input scale 1/128, zero point 128: the same [-1, 1] range as TF's 127.5, one step apart.
    assert_eq!(c.normalization, Normalization::uniform(128.0, 128.0));
    assert_eq!(ck.weights.len(), c.param_shapes().len());
    assert!(ck.labels.is_empty());
    ck
}

#[test]
fn google_tflite_quant_models_import() {
    let ck = check_quant_model(&fixture(QUANT_025), 0.25, 128);
    // Golden values: dequantized with numpy from ai_edge_litert's schema reader
    // (scale·(q − zero_point)), at the TFLite index shown, compared at our index.
    let at = |name: &str, i: usize| ck.weights.get(name).unwrap().data[i];
    // OHWI [5, 1, 2, 0] → HWIO (3, 3, 3, 8) index ((1·3 + 2)·3 + 0)·8 + 5.
    assert_eq!(at("stem.weight", 125), 0.04441205);
    assert_eq!(at("stem.bias", 3), 4.5711102);
    // (1, 3, 3, 8) [0, 2, 1, 7] → (3, 3, 8) index (2·3 + 1)·8 + 7.
    assert_eq!(at("blocks.0.dw.weight", 63), 0.26820102);
    // OHWI [200, 0, 0, 3] → (Cin, Cout) = (256, 256) index 3·256 + 200.
    assert_eq!(at("blocks.12.pw.weight", 3 * 256 + 200), -0.35075295);
    assert_eq!(at("fc.weight", 10 * 1001 + 1000), 0.049862638);
    assert_eq!(at("fc.bias", 1000), 0.8007687);

    for (name, width, res) in [
        ("mobilenet_v1_0.5_160_quant.tflite", 0.5, 160),
        ("mobilenet_v1_0.75_192_quant.tflite", 0.75, 192),
    ] {
        if let Some(path) = shared(name) {
            check_quant_model(&path, width, res);
        }
    }
}

#[test]
fn tflite_without_classifier_is_a_body_only_model() {
    // Google's embedding extractor ends at the average pool: classes 0, no `fc.*`.
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mobilenet_v1_1.0_224_quant_embedding_extractor.tflite");
    let ckpt = import_tflite(&path).unwrap();
    assert_eq!(ckpt.config.classes, 0);
    assert_eq!(ckpt.config.feature_dim(), 1024);
    assert_eq!((ckpt.config.width, ckpt.config.resolution), (1.0, 224));
    assert!(ckpt.weights.get("fc.weight").is_none());
    assert!(ckpt.weights.get("blocks.12.pw.weight").is_some());
    let kinds: Vec<_> = ckpt.config.layers().iter().map(|l| l.kind).collect();
    assert_eq!(kinds.last(), Some(&mobilenet::LayerKind::AvgPool));
}

/// A valid TFLite flatbuffer of one subgraph with no tensors and no operators, written by hand:
/// root offset, "TFL3", Model vtable + table (field 2 `subgraphs`), a 1-vector, SubGraph vtable +
/// table (fields 0 `tensors` and 3 `operators`), two empty vectors.
fn empty_tflite() -> Vec<u8> {
    let mut b = Vec::new();
    let u16s = |b: &mut Vec<u8>, v: &[u16]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
    let u32s = |b: &mut Vec<u8>, v: &[u32]| v.iter().for_each(|x| b.extend(x.to_le_bytes()));
    u32s(&mut b, &[20]); // 0: root table at 20
    b.extend(b"TFL3"); // 4
    u16s(&mut b, &[10, 8, 0, 0, 4, 0]); // 8: Model vtable (+2 bytes padding)
    u32s(&mut b, &[12, 4]); // 20: soffset → vtable at 8; 24: subgraphs → 28
    u32s(&mut b, &[1, 16]); // 28: vector of 1; 32: → table at 48
    u16s(&mut b, &[12, 12, 4, 0, 0, 8]); // 36: SubGraph vtable
    u32s(&mut b, &[12, 8, 8]); // 48: soffset → 36; 52: tensors → 60; 56: operators → 64
    u32s(&mut b, &[0, 0]); // 60, 64: empty vectors
    b
}

#[test]
fn tflite_without_mobilenet_is_missing_param() {
    let path = Path::new("empty_graph.tflite");
    let e = import_tflite_bytes(&empty_tflite(), path).unwrap_err();
    assert!(
        matches!(&e, Error::MissingParam { name, .. } if name == "stem.weight"),
        "{e}"
    );
    assert!(names_file(&e, path), "{e}");
}

#[test]
fn bad_tflite_files_are_corrupt_not_panics() {
    let good = std::fs::read(fixture(QUANT_025)).unwrap();
    let path = Path::new("bad_model.tflite");
    let mut random = random_bytes(4096, 11);
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("random", random.clone()),
        ("short", good[..6].to_vec()),
    ];
    // Random bytes behind a valid identifier reach the flatbuffer reader.
    random[4..8].copy_from_slice(b"TFL3");
    cases.push(("random TFL3", random));
    // (The file's last few hundred bytes are not needed to import: no cut there.)
    for cut in [1000, 4096, good.len() / 2, good.len() * 3 / 4] {
        cases.push(("truncated", good[..cut].to_vec()));
    }
    for (what, bytes) in cases {
        match import_tflite_bytes(&bytes, path) {
            Err(e @ Error::Corrupt { .. }) => assert!(names_file(&e, path), "{what}: {e}"),
            Err(e) => panic!("{what}: {e}"),
            Ok(_) => panic!("{what}: imported"),
        }
    }
    for name in [
        QUANT_025,
        "mobilenet_v1_0.5_160_quant.tflite",
        "mobilenet_v1_0.75_192_quant.tflite",
    ] {
        let real = if name == QUANT_025 {
            fixture(name)
        } else if let Some(p) = shared(name) {
            p
        } else {
            continue;
        };
        let bytes = std::fs::read(&real).unwrap();
        let e = import_tflite_bytes(&bytes[..1000], &real).unwrap_err();
        assert!(matches!(e, Error::Corrupt { .. }), "{name}: {e}");
        assert!(names_file(&e, &real), "{e}");
    }
}

/// Single-byte corruptions anywhere in a real model give a result or an error, never a panic.
#[test]
fn mutated_tflite_never_panics() {
    let good = std::fs::read(fixture(QUANT_025)).unwrap();
    let noise = random_bytes(3 * 1000, 5);
    let mut outcomes = [0usize; 2];
    for k in noise.chunks_exact(3) {
        let mut bytes = good.clone();
        // Half the mutations land in the first 4 KiB, where the tables and vtables sit.
        let span = if k[0] % 2 == 0 { 4096 } else { bytes.len() };
        let pos = (usize::from(k[1]) << 8 | usize::from(k[2])) * 7919 % span;
        bytes[pos] ^= k[0] | 1;
        outcomes[import_tflite_bytes(&bytes, Path::new("mutated.tflite")).is_ok() as usize] += 1;
    }
    assert!(
        outcomes[0] > 0,
        "some mutation must be caught: {outcomes:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Hostile configurations (issue 5): validated before they are expanded.

/// The synthetic graph with the constant `node` re-declared of shape `shape` and no values.
fn graph_with_shape(node: &str, shape: &[usize]) -> Vec<u8> {
    let mut graph = synthetic_graph(&MobileNetConfig::v1(0.25, 128, 11));
    let n = graph.node.iter_mut().find(|n| n.name == node).unwrap();
    *n = const_node(node, shape, &[]);
    graph.encode_to_vec()
}

#[test]
fn graphdef_with_huge_dimensions_is_an_invalid_configuration() {
    // Each used to overflow in debug builds while the configuration was expanded.
    let huge = 1usize << 40;
    let cases = [
        // α is read from the last pointwise layer's 1024·α output channels.
        (
            graph_with_shape(
                "MobilenetV1/Conv2d_13_pointwise/weights",
                &[1, 1, 256, huge],
            ),
            "width multiplier 1073741800 is outside (0, 4]",
        ),
        (
            graph_with_shape(
                "MobilenetV1/Logits/Conv2d_1c_1x1/weights",
                &[1, 1, 256, huge],
            ),
            "1099511627776 classes is out of range 0..=1000000 (0: no classifier)",
        ),
    ];
    let path = Path::new("huge.pb");
    for (bytes, what) in cases {
        let e = import_graphdef_bytes(&bytes, path).unwrap_err();
        assert!(matches!(e, Error::InvalidConfig { .. }), "{e:?}");
        assert_eq!(
            e.to_string(),
            format!("huge.pb: invalid configuration: {what}")
        );
    }
    // A huge stem no longer decides α: it is a wrong shape.
    let stem = graph_with_shape("MobilenetV1/Conv2d_0/weights", &[3, 3, 3, huge]);
    let e = import_graphdef_bytes(&stem, path).unwrap_err().to_string();
    assert!(
        e.starts_with("huge.pb: parameter `stem.weight` has shape [3, 3, 3, 1099511627776]"),
        "{e}"
    );
    let mut graph = synthetic_graph(&MobileNetConfig::v1(0.25, 128, 11));
    if let Some(Value::Shape(s)) = &mut graph.node[0].attr.get_mut("shape").unwrap().value {
        s.dim[1].size = 1 << 40;
        s.dim[2].size = 1 << 40;
    }
    let e = import_graphdef_bytes(&graph.encode_to_vec(), path).unwrap_err();
    assert_eq!(
        e.to_string(),
        "huge.pb: invalid configuration: resolution 1099511627776 is above 4096"
    );
}
