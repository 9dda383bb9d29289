//! [`Checkpoint`] → ONNX: one node per operation, in layer order, initializers under our
//! canonical names in ONNX layouts.

use std::path::Path;

use prost::Message;

use super::proto::{
    attribute_type, data_type, dimension, AttributeProto, Dimension, GraphProto, ModelProto,
    NodeProto, OperatorSetIdProto, StringStringEntryProto, TensorProto, TensorShapeProto,
    TypeProto, TypeTensor, ValueInfoProto,
};
use super::{META_LABELS, META_NORMALIZATION, OPSET};
use crate::config::{Activation, LayerKind};
use crate::error::Result;
use crate::io::layout::{hwc_to_c1hw, hwio_to_oihw, io_to_oi};
use crate::io::native::write_atomic;
use crate::params::Checkpoint;

/// Choices of the ONNX writer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OnnxOptions {
    /// Fold BatchNorm into the convolutions (weights and a bias) instead of writing
    /// `BatchNormalization` nodes. Checkpoints without BatchNorm are always written folded.
    pub fold_batch_norm: bool,
}

/// Writes `ckpt` as an ONNX model to `path` (atomically).
pub fn export_onnx(ckpt: &Checkpoint, path: &Path, opts: OnnxOptions) -> Result<()> {
    let bytes = export_onnx_bytes(ckpt, path, opts)?;
    write_atomic(path, &bytes)
}

/// [`export_onnx`] to bytes; `path` names the model in errors.
pub fn export_onnx_bytes(ckpt: &Checkpoint, path: &Path, opts: OnnxOptions) -> Result<Vec<u8>> {
    ckpt.check(path)?;
    let folded;
    let ckpt = if opts.fold_batch_norm && ckpt.config.batch_norm {
        folded = ckpt.fold_batch_norm();
        &folded
    } else {
        ckpt
    };
    let config = &ckpt.config;
    let mut g = Builder::default();
    let r = config.resolution as i64;
    g.graph.input.push(value_info(
        "input",
        &[Dim::Batch, Dim::Fixed(3), Dim::Fixed(r), Dim::Fixed(r)],
    ));
    if config.activation == Activation::Relu6 {
        g.init("relu6.min", &[], vec![0.0]);
        g.init("relu6.max", &[], vec![6.0]);
    }
    let mut x = "input".to_string();
    let mut out_dim = 0;
    for spec in config.layers() {
        let name = spec.name.as_str();
        let weight = |suffix: &str| {
            let full = format!("{name}.{suffix}");
            let p = ckpt
                .weights
                .get(&full)
                .expect("checked by Checkpoint::check");
            (full, p)
        };
        match spec.kind {
            LayerKind::Stem | LayerKind::Conv | LayerKind::Depthwise | LayerKind::Pointwise => {
                let [_, _, cin] = spec.input;
                let cout = spec.output[2];
                let (wname, w) = weight("weight");
                let (dims, data, k, group) = match spec.kind {
                    LayerKind::Depthwise => {
                        (vec![cout, 1, 3, 3], hwc_to_c1hw(9, cout, &w.data), 3, cout)
                    }
                    LayerKind::Pointwise => {
                        (vec![cout, cin, 1, 1], io_to_oi(cin, cout, &w.data), 1, 1)
                    }
                    _ => (
                        vec![cout, cin, 3, 3],
                        hwio_to_oihw(3, 3, cin, cout, &w.data),
                        3,
                        1,
                    ),
                };
                g.init(&wname, &dims, data);
                let mut inputs = vec![x.clone(), wname];
                if !config.batch_norm {
                    let (bname, b) = weight("bias");
                    g.init(&bname, &[cout], b.data.clone());
                    inputs.push(bname);
                }
                let p = spec.padding;
                let s = spec.stride as i64;
                let pads = [p.top, p.left, p.bottom, p.right].map(|v| v as i64);
                x = g.node(
                    "Conv",
                    name,
                    inputs,
                    vec![
                        ints("kernel_shape", &[k, k]),
                        ints("strides", &[s, s]),
                        ints("pads", &pads),
                        ints("dilations", &[1, 1]),
                        int("group", group as i64),
                    ],
                );
                if config.batch_norm {
                    let mut inputs = vec![x.clone()];
                    for p in ["weight", "bias", "running_mean", "running_var"] {
                        let (pname, v) = weight(&format!("bn.{p}"));
                        g.init(&pname, &[cout], v.data.clone());
                        inputs.push(pname);
                    }
                    x = g.node(
                        "BatchNormalization",
                        &format!("{name}.bn"),
                        inputs,
                        vec![float("epsilon", config.bn_eps)],
                    );
                }
                x = match config.activation {
                    Activation::Relu => g.node("Relu", &format!("{name}.relu"), vec![x], vec![]),
                    Activation::Relu6 => g.node(
                        "Clip",
                        &format!("{name}.relu6"),
                        vec![x, "relu6.min".into(), "relu6.max".into()],
                        vec![],
                    ),
                };
                out_dim = cout;
            }
            LayerKind::AvgPool => {
                x = g.node("GlobalAveragePool", "pool", vec![x], vec![]);
                x = g.node("Flatten", "features", vec![x], vec![int("axis", 1)]);
            }
            LayerKind::Fc => {
                let [_, _, cin] = spec.input;
                let classes = spec.output[2];
                let (wname, w) = weight("weight");
                g.init(&wname, &[classes, cin], io_to_oi(cin, classes, &w.data));
                let (bname, b) = weight("bias");
                g.init(&bname, &[classes], b.data.clone());
                x = g.node(
                    "Gemm",
                    "logits",
                    vec![x, wname, bname],
                    vec![int("transB", 1)],
                );
                out_dim = classes;
            }
            LayerKind::Softmax => {
                x = g.node("Softmax", "probabilities", vec![x], vec![int("axis", 1)]);
            }
        }
    }
    g.graph
        .output
        .push(value_info(&x, &[Dim::Batch, Dim::Fixed(out_dim as i64)]));
    g.graph.name = format!("mobilenet_v1_{}_{}", config.width, config.resolution);
    let mut meta = vec![
        entry(META_NORMALIZATION, json(&config.normalization)),
        entry("mobilenet.config", json(config)),
    ];
    if !ckpt.labels.is_empty() {
        meta.push(entry(META_LABELS, json(&ckpt.labels)));
    }
    let model = ModelProto {
        ir_version: 8,
        producer_name: "mobilenet".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: "MobileNet v1 (Howard et al. 2017). Input: (N, 3, R, R), (pixel - mean) / std with mean and std in metadata `mobilenet.normalization`.".into(),
        graph: Some(g.graph),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: OPSET }],
        metadata_props: meta,
    };
    Ok(model.encode_to_vec())
}

/// JSON of plain data (no maps with non-string keys), which cannot fail.
fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

#[derive(Default)]
struct Builder {
    graph: GraphProto,
}

impl Builder {
    fn init(&mut self, name: &str, dims: &[usize], data: Vec<f32>) {
        debug_assert_eq!(dims.iter().product::<usize>(), data.len());
        self.graph.initializer.push(TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: data_type::FLOAT,
            name: name.into(),
            raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
    }

    /// Adds a node whose one output is named after it; returns that name.
    fn node(
        &mut self,
        op: &str,
        name: &str,
        input: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) -> String {
        self.graph.node.push(NodeProto {
            input,
            output: vec![name.into()],
            name: name.into(),
            op_type: op.into(),
            attribute,
            domain: String::new(),
        });
        name.into()
    }
}

enum Dim {
    Batch,
    Fixed(i64),
}

fn value_info(name: &str, dims: &[Dim]) -> ValueInfoProto {
    let dim = dims
        .iter()
        .map(|d| Dimension {
            value: Some(match d {
                Dim::Batch => dimension::Value::DimParam("N".into()),
                Dim::Fixed(v) => dimension::Value::DimValue(*v),
            }),
        })
        .collect();
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeTensor {
                elem_type: data_type::FLOAT,
                shape: Some(TensorShapeProto { dim }),
            }),
        }),
    }
}

fn entry(key: &str, value: String) -> StringStringEntryProto {
    StringStringEntryProto {
        key: key.into(),
        value,
    }
}

fn ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.to_vec(),
        r#type: attribute_type::INTS,
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: v,
        r#type: attribute_type::INT,
        ..Default::default()
    }
}

fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f: v,
        r#type: attribute_type::FLOAT,
        ..Default::default()
    }
}
