//! ONNX → [`Checkpoint`]: walks the graph's main path, recognises each MobileNet v1 layer by
//! its op and weight shape, and reads the architecture from what it finds.
//!
//! Accepted, in the forms PyTorch's exporter and tf2onnx write: `Conv` (group 1 for the stem
//! and pointwise layers, group = channels for depthwise), `BatchNormalization` (or folded into
//! the convolution's bias), `Relu` / `Clip(0, 6)`, `Pad` (constant zeros, merged into the next
//! convolution), `GlobalAveragePool`, `AveragePool` over the whole map, `ReduceMean` over H and
//! W, `Flatten` / `Reshape` / `Squeeze` / `Dropout` / `Identity` after the pool, `Gemm`,
//! `MatMul` and `Add`, or a 1×1 `Conv` as the classifier, `Softmax`; an NHWC input through a `Transpose`.
//! Shape arithmetic (`Shape`, `Gather`, `Concat`, `Constant`, ...) off the main path is
//! ignored. Anything else on the main path is an error naming the node and its op.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path};

use prost::Message;

use super::proto::{data_type, dimension, GraphProto, ModelProto, NodeProto, TensorProto};
use super::{META_LABELS, META_NORMALIZATION};
use crate::config::{Activation, LayerKind, MobileNetConfig, Normalization, PaddingMode, Variant};
use crate::error::{Error, Result};
use crate::io::layout::{c1hw_to_hwc, oi_to_io, oihw_to_hwio};
use crate::layers::batch_norm::BatchNorm;
use crate::params::{Checkpoint, Param, Weights};

/// Reads an ONNX MobileNet v1.
pub fn import_onnx(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    import_onnx_bytes(&bytes, path)
}

/// [`import_onnx`] on bytes in memory; `path` names them in errors.
pub fn import_onnx_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
    if bytes.is_empty() {
        return Err(Error::corrupt(path, "empty file, not an ONNX model"));
    }
    let mut model = ModelProto::decode(bytes).map_err(|e| {
        Error::corrupt(
            path,
            format!("not an ONNX model (truncated or corrupt protobuf: {e})"),
        )
    })?;
    load_external_data(&mut model, path)?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| Error::corrupt(path, "ONNX model without a graph"))?;
    let mut walk = Walk::new(path, graph)?;
    for node in &graph.node {
        walk.node(node)?;
    }
    let mut ckpt = walk.finish()?;
    for p in &model.metadata_props {
        if p.key == META_LABELS {
            ckpt.labels = serde_json::from_str(&p.value).map_err(|e| {
                Error::corrupt(
                    path,
                    format!("metadata `{META_LABELS}` is not a JSON list of strings: {e}"),
                )
            })?;
        } else if p.key == META_NORMALIZATION {
            ckpt.config.normalization =
                serde_json::from_str::<Normalization>(&p.value).map_err(|e| {
                    Error::corrupt(path, format!("metadata `{META_NORMALIZATION}`: {e}"))
                })?;
        }
    }
    ckpt.check(path)?;
    Ok(ckpt)
}

/// A convolution found on the main path, with what follows it.
#[derive(Debug)]
struct Conv {
    node: String,
    /// OIHW dims.
    dims: [usize; 4],
    group: usize,
    stride: usize,
    /// Top, left, bottom, right.
    pads: [usize; 4],
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    bn: Option<Bn>,
    act: Option<Activation>,
}

#[derive(Debug)]
struct Bn {
    gamma: Vec<f32>,
    beta: Vec<f32>,
    mean: Vec<f32>,
    var: Vec<f32>,
    eps: f32,
}

/// The classifier: (Cin, classes) weights and the bias.
#[derive(Debug)]
struct Fc {
    weight: Vec<f32>,
    cin: usize,
    classes: usize,
    bias: Option<Vec<f32>>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    /// Before the first convolution.
    Input,
    Body,
    /// After the global pool.
    Pooled,
    /// After `MatMul`, waiting for its `Add`.
    Classifier,
    Done,
}

struct Walk<'a> {
    path: &'a Path,
    /// Initializers and `Constant` outputs.
    consts: HashMap<&'a str, &'a TensorProto>,
    /// Every value defined so far (graph inputs, initializers, node outputs).
    defined: HashSet<&'a str>,
    /// The activation being followed.
    main: &'a str,
    /// Whether the main path is NCHW by now (an NHWC input becomes so at its `Transpose`).
    nchw: bool,
    /// Input height and width when the graph declares them.
    input_hw: Option<(usize, usize)>,
    stage: Stage,
    pending_pad: Option<[usize; 4]>,
    convs: Vec<Conv>,
    /// The kernel of an `AveragePool` used as the global pool.
    pool_kernel: Option<(usize, usize)>,
    fc: Option<Fc>,
    softmax: bool,
}

impl<'a> Walk<'a> {
    fn new(path: &'a Path, graph: &'a GraphProto) -> Result<Walk<'a>> {
        let consts: HashMap<&str, &TensorProto> = graph
            .initializer
            .iter()
            .map(|t| (t.name.as_str(), t))
            .collect();
        let mut defined: HashSet<&str> = consts.keys().copied().collect();
        defined.extend(graph.input.iter().map(|i| i.name.as_str()));
        let data: Vec<_> = graph
            .input
            .iter()
            .filter(|i| !consts.contains_key(i.name.as_str()))
            .collect();
        let input = match data[..] {
            [one] => one,
            [] => return Err(Error::corrupt(path, "the ONNX graph has no input")),
            _ => {
                let names: Vec<&str> = data.iter().map(|i| i.name.as_str()).collect();
                return Err(Error::Unsupported {
                    path: path.into(),
                    what: format!("the ONNX graph has {} inputs ({names:?}); MobileNet v1 has one image input", names.len()),
                });
            }
        };
        let dims: Vec<Option<i64>> = input
            .r#type
            .as_ref()
            .and_then(|t| t.tensor_type.as_ref())
            .and_then(|t| t.shape.as_ref())
            .map(|s| {
                s.dim
                    .iter()
                    .map(|d| match d.value {
                        Some(dimension::Value::DimValue(v)) => Some(v),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let size = |v: Option<i64>| v.and_then(|v| usize::try_from(v).ok()).filter(|&v| v > 0);
        let (nhwc, input_hw) = match dims[..] {
            [_, Some(3), h, w] => (false, size(h).zip(size(w))),
            [_, h, w, Some(3)] => (true, size(h).zip(size(w))),
            [] => (false, None),
            _ => {
                return Err(Error::Unsupported {
                    path: path.into(),
                    what: format!(
                        "input `{}` of shape {dims:?}; expected [N, 3, H, W] or [N, H, W, 3]",
                        input.name
                    ),
                })
            }
        };
        Ok(Walk {
            path,
            consts,
            defined,
            main: input.name.as_str(),
            nchw: !nhwc,
            input_hw,
            stage: Stage::Input,
            pending_pad: None,
            convs: Vec::new(),
            pool_kernel: None,
            fc: None,
            softmax: false,
        })
    }

    fn unsupported(&self, node: &NodeProto, what: impl std::fmt::Display) -> Error {
        Error::Unsupported {
            path: self.path.into(),
            what: format!("node `{}` ({}): {what}", node_name(node), node.op_type),
        }
    }

    fn corrupt(&self, node: &NodeProto, what: impl std::fmt::Display) -> Error {
        Error::corrupt(
            self.path,
            format!("node `{}` ({}): {what}", node_name(node), node.op_type),
        )
    }

    fn node(&mut self, node: &'a NodeProto) -> Result<()> {
        for i in node.input.iter().filter(|i| !i.is_empty()) {
            if !self.defined.contains(i.as_str()) {
                return Err(self.corrupt(
                    node,
                    format!("reads `{i}`, which is no initializer, graph input or earlier node's output (a missing initializer, or nodes out of order or in a cycle)"),
                ));
            }
        }
        if !node.domain.is_empty() && node.domain != "ai.onnx" {
            return Err(self.unsupported(node, format!("operator domain `{}`", node.domain)));
        }
        let on_main = node.input.first().is_some_and(|i| i == self.main);
        if node.op_type == "Constant" {
            let t = attr(node, "value")
                .and_then(|a| a.t.as_ref())
                .ok_or_else(|| self.unsupported(node, "a Constant without a tensor `value`"))?;
            if let Some(out) = node.output.first() {
                self.consts.insert(out.as_str(), t);
            }
        } else if on_main && node.op_type != "Shape" {
            if self.stage == Stage::Done {
                return Err(self.unsupported(node, "an operation after the Softmax"));
            }
            self.main_op(node)?;
            self.main = node
                .output
                .first()
                .ok_or_else(|| self.corrupt(node, "no output"))?;
        } else if node.input.iter().skip(1).any(|i| i == self.main) {
            return Err(self.unsupported(
                node,
                "takes the network's activation as a second input; a MobileNet v1 graph is a chain",
            ));
        }
        self.defined.extend(node.output.iter().map(String::as_str));
        Ok(())
    }

    fn main_op(&mut self, node: &'a NodeProto) -> Result<()> {
        let stage = self.stage;
        match (node.op_type.as_str(), stage) {
            ("Transpose", Stage::Input) => {
                let perm = ints(node, "perm").unwrap_or_default();
                if self.nchw || perm != [0, 3, 1, 2] {
                    return Err(self.unsupported(node, format!("perm {perm:?} on the input")));
                }
                self.nchw = true;
            }
            ("Transpose" | "Flatten" | "Reshape" | "Squeeze" | "Unsqueeze", Stage::Pooled)
            | ("Dropout" | "Identity", _) => {}
            ("Pad", Stage::Input | Stage::Body) => {
                if self.pending_pad.is_some() {
                    return Err(self.unsupported(node, "two Pads in a row"));
                }
                self.pending_pad = Some(self.pad(node)?);
            }
            ("Conv", Stage::Input | Stage::Body) => {
                if !self.nchw {
                    return Err(self.unsupported(
                        node,
                        "an NHWC input reaches a convolution without a Transpose to NCHW",
                    ));
                }
                let conv = self.conv(node)?;
                self.convs.push(conv);
                self.stage = Stage::Body;
            }
            ("Conv", Stage::Pooled) => {
                // Keras's classifier: a 1×1 convolution on the pooled features.
                let conv = self.conv(node)?;
                let [o, i, kh, kw] = conv.dims;
                if (kh, kw, conv.group) != (1, 1, 1) {
                    return Err(
                        self.unsupported(node, "a convolution after the pool that is not 1×1")
                    );
                }
                self.fc = Some(Fc {
                    weight: oi_to_io(o, i, &conv.weight),
                    cin: i,
                    classes: o,
                    bias: conv.bias,
                });
                self.stage = Stage::Pooled;
            }
            ("BatchNormalization", Stage::Body) => {
                let bn = self.batch_norm(node)?;
                let last = self.convs.last().expect("stage Body has a convolution");
                if last.bn.is_some() || last.act.is_some() {
                    return Err(self.unsupported(node, "does not follow a convolution"));
                }
                let channels = last.dims[0];
                if bn.gamma.len() != channels {
                    return Err(self.corrupt(
                        node,
                        format!(
                            "{} channels after a convolution of {channels}",
                            bn.gamma.len()
                        ),
                    ));
                }
                self.convs.last_mut().expect("checked").bn = Some(bn);
            }
            // tf2onnx writes Keras's BatchNorm as a per-channel Mul and Add after the
            // convolution (when it cannot fold them into the weights itself): fold them here.
            ("Mul" | "Add", Stage::Body) => {
                let last = self.convs.last().expect("stage Body has a convolution");
                if last.bn.is_some() || last.act.is_some() {
                    return Err(self.unsupported(
                        node,
                        "a Mul or Add that does not directly follow a convolution",
                    ));
                }
                let channels = last.dims[0];
                let v = self.vector_input(node, 1, channels)?;
                let conv = self.convs.last_mut().expect("checked");
                let bias = conv.bias.get_or_insert_with(|| vec![0.0; channels]);
                if node.op_type == "Mul" {
                    let per = conv.weight.len() / channels;
                    for (o, s) in v.iter().enumerate() {
                        conv.weight[o * per..(o + 1) * per]
                            .iter_mut()
                            .for_each(|w| *w *= s);
                        bias[o] *= s;
                    }
                } else {
                    bias.iter_mut().zip(&v).for_each(|(b, a)| *b += a);
                }
            }
            ("Relu" | "Clip", Stage::Body) => {
                let act = self.activation(node)?;
                let last = self.convs.last().expect("stage Body has a convolution");
                if last.act.is_some() {
                    return Err(self.unsupported(node, "two activations in a row"));
                }
                self.convs.last_mut().expect("checked").act = Some(act);
            }
            ("GlobalAveragePool", Stage::Body) => self.stage = Stage::Pooled,
            ("AveragePool", Stage::Body) => {
                let k = ints(node, "kernel_shape").unwrap_or_default();
                match k[..] {
                    [h, w] if h > 0 && w > 0 => {
                        self.pool_kernel = Some((h as usize, w as usize));
                        self.stage = Stage::Pooled;
                    }
                    _ => return Err(self.corrupt(node, format!("kernel_shape {k:?}"))),
                }
            }
            ("ReduceMean", Stage::Body) => {
                let axes = match node.input.get(1).filter(|s| !s.is_empty()) {
                    Some(name) => self.int_tensor(node, name)?,
                    None => ints(node, "axes").unwrap_or_default(),
                };
                let mut sorted = axes.clone();
                sorted.sort();
                if sorted != [2, 3] && sorted != [-2, -1] {
                    return Err(self.unsupported(
                        node,
                        format!("a mean over axes {axes:?}, not the spatial ones"),
                    ));
                }
                self.stage = Stage::Pooled;
            }
            ("Gemm", Stage::Pooled) => {
                let trans_a = int(node, "transA").unwrap_or(0);
                let trans_b = int(node, "transB").unwrap_or(0);
                let alpha = float(node, "alpha").unwrap_or(1.0);
                let beta = float(node, "beta").unwrap_or(1.0);
                if trans_a != 0 || alpha != 1.0 || beta != 1.0 {
                    return Err(self.unsupported(
                        node,
                        format!("transA {trans_a}, alpha {alpha}, beta {beta} (only 0, 1, 1)"),
                    ));
                }
                let (dims, w) = self.float_input(node, 1)?;
                let (cin, classes, weight) = match (&dims[..], trans_b) {
                    (&[o, i], 1) => (i, o, oi_to_io(o, i, &w)),
                    (&[i, o], 0) => (i, o, w),
                    _ => return Err(self.corrupt(node, format!("weight of shape {dims:?}"))),
                };
                let bias = match node.input.get(2).filter(|s| !s.is_empty()) {
                    Some(_) => Some(self.vector_input(node, 2, classes)?),
                    None => None,
                };
                self.fc = Some(Fc {
                    weight,
                    cin,
                    classes,
                    bias,
                });
            }
            ("MatMul", Stage::Pooled) => {
                let (dims, w) = self.float_input(node, 1)?;
                let [cin, classes] = dims[..] else {
                    return Err(self.corrupt(node, format!("weight of shape {dims:?}")));
                };
                self.fc = Some(Fc {
                    weight: w,
                    cin,
                    classes,
                    bias: None,
                });
                self.stage = Stage::Classifier;
            }
            ("Add", Stage::Classifier | Stage::Pooled)
                if self.fc.as_ref().is_some_and(|f| f.bias.is_none()) =>
            {
                let classes = self.fc.as_ref().map_or(0, |f| f.classes);
                let b = self.vector_input(node, 1, classes)?;
                self.fc.as_mut().expect("checked").bias = Some(b);
                self.stage = Stage::Pooled;
            }
            ("Softmax", Stage::Pooled) => {
                self.softmax = true;
                self.stage = Stage::Done;
            }
            (op, _) => {
                let where_ = match stage {
                    Stage::Input => "before the first convolution",
                    Stage::Body => "in the convolutional body",
                    Stage::Pooled | Stage::Classifier => "after the pool",
                    Stage::Done => "after the Softmax",
                };
                return Err(
                    self.unsupported(node, format!("a MobileNet v1 graph has no `{op}` {where_}"))
                );
            }
        }
        Ok(())
    }

    fn conv(&mut self, node: &NodeProto) -> Result<Conv> {
        let (dims, weight) = self.float_input(node, 1)?;
        let [o, i, kh, kw] = dims[..] else {
            return Err(self.corrupt(node, format!("weight of shape {dims:?}, not OIHW")));
        };
        let group = int(node, "group").unwrap_or(1);
        let strides = ints(node, "strides").unwrap_or_else(|| vec![1, 1]);
        let dilations = ints(node, "dilations").unwrap_or_else(|| vec![1, 1]);
        if dilations.iter().any(|&d| d != 1) {
            return Err(self.unsupported(node, format!("dilations {dilations:?}")));
        }
        let stride = match strides[..] {
            [s, t] if s == t && (s == 1 || s == 2) => s as usize,
            _ => {
                return Err(self.unsupported(
                    node,
                    format!("strides {strides:?} (MobileNet v1 uses 1 or 2)"),
                ))
            }
        };
        if group < 1 || !(group as usize == 1 || (group as usize == o && i == 1)) {
            return Err(self.unsupported(
                node,
                format!("group {group} with weight {dims:?} (neither dense nor depthwise)"),
            ));
        }
        let auto_pad = attr(node, "auto_pad")
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
            .unwrap_or_default();
        let mut pads = match auto_pad.as_str() {
            "" | "NOTSET" => match ints(node, "pads").unwrap_or_else(|| vec![0; 4])[..] {
                // ONNX order: top, left, bottom, right.
                [t, l, b, r] if t >= 0 && l >= 0 && b >= 0 && r >= 0 => {
                    [t as usize, l as usize, b as usize, r as usize]
                }
                ref p => return Err(self.corrupt(node, format!("pads {p:?}"))),
            },
            "VALID" => [0; 4],
            // The totals depend on the input size: resolved in `finish` (TF "SAME").
            "SAME_UPPER" => [usize::MAX; 4],
            other => return Err(self.unsupported(node, format!("auto_pad {other}"))),
        };
        if let Some(p) = self.pending_pad.take() {
            if pads == [usize::MAX; 4] {
                return Err(self.unsupported(node, "a Pad before a SAME_UPPER convolution"));
            }
            for (a, b) in pads.iter_mut().zip(p) {
                *a += b;
            }
        }
        let bias = match node.input.get(2).filter(|s| !s.is_empty()) {
            Some(_) => Some(self.vector_input(node, 2, o)?),
            None => None,
        };
        Ok(Conv {
            node: node_name(node).to_string(),
            dims: [o, i, kh, kw],
            group: group as usize,
            stride,
            pads,
            weight,
            bias,
            bn: None,
            act: None,
        })
    }

    /// A zero `Pad` of H and W only; top, left, bottom, right.
    fn pad(&self, node: &NodeProto) -> Result<[usize; 4]> {
        let mode = attr(node, "mode")
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
            .unwrap_or_else(|| "constant".into());
        if mode != "constant" {
            return Err(self.unsupported(node, format!("mode {mode}")));
        }
        let pads = match node.input.get(1).filter(|s| !s.is_empty()) {
            Some(name) => self.int_tensor(node, name)?,
            None => ints(node, "pads").unwrap_or_default(),
        };
        if let Some(name) = node.input.get(2).filter(|s| !s.is_empty()) {
            let t = self.tensor(node, name)?;
            if read_floats(t)
                .ok()
                .as_deref()
                .is_some_and(|v| v.iter().any(|&x| x != 0.0))
            {
                return Err(self.unsupported(node, "a non-zero pad value"));
            }
        }
        if node.input.get(3).is_some_and(|s| !s.is_empty()) {
            return Err(self.unsupported(node, "explicit pad axes"));
        }
        let (h, w) = if self.nchw { (2, 3) } else { (1, 2) };
        match pads[..] {
            [_, _, _, _, _, _, _, _] if pads.iter().all(|&p| p >= 0) => {
                let ok = (0..4).all(|a| a == h || a == w || (pads[a] == 0 && pads[a + 4] == 0));
                if !ok {
                    return Err(self
                        .unsupported(node, format!("pads {pads:?} on the batch or channel axis")));
                }
                Ok([
                    pads[h] as usize,
                    pads[w] as usize,
                    pads[h + 4] as usize,
                    pads[w + 4] as usize,
                ])
            }
            _ => Err(self.corrupt(node, format!("pads {pads:?}"))),
        }
    }

    fn batch_norm(&self, node: &NodeProto) -> Result<Bn> {
        let (dims, gamma) = self.float_input(node, 1)?;
        let c = match dims[..] {
            [c] => c,
            _ => return Err(self.corrupt(node, format!("scale of shape {dims:?}"))),
        };
        let eps = float(node, "epsilon").unwrap_or(1e-5);
        if !(eps.is_finite() && eps >= 0.0) {
            return Err(self.corrupt(node, format!("epsilon {eps}")));
        }
        Ok(Bn {
            gamma,
            beta: self.vector_input(node, 2, c)?,
            mean: self.vector_input(node, 3, c)?,
            var: self.vector_input(node, 4, c)?,
            eps,
        })
    }

    fn activation(&self, node: &NodeProto) -> Result<Activation> {
        if node.op_type == "Relu" {
            return Ok(Activation::Relu);
        }
        // Clip: bounds as inputs (opset 11+) or attributes (before).
        let bound = |k: usize, name: &str| -> Result<Option<f32>> {
            match node.input.get(k).filter(|s| !s.is_empty()) {
                Some(t) => {
                    let v =
                        read_floats(self.tensor(node, t)?).map_err(|e| self.corrupt(node, e))?;
                    match v[..] {
                        [x] => Ok(Some(x)),
                        _ => Err(self.corrupt(node, format!("{name} bound of {} values", v.len()))),
                    }
                }
                None => Ok(float(node, name)),
            }
        };
        match (bound(1, "min")?, bound(2, "max")?) {
            (Some(lo), Some(hi)) if lo == 0.0 && hi == 6.0 => Ok(Activation::Relu6),
            (Some(0.0), None) => Ok(Activation::Relu),
            (lo, hi) => Err(self.unsupported(
                node,
                format!("Clip to [{lo:?}, {hi:?}]; MobileNet v1 uses ReLU or ReLU6 (Clip 0, 6)"),
            )),
        }
    }

    fn tensor(&self, node: &NodeProto, name: &str) -> Result<&'a TensorProto> {
        self.consts.get(name).copied().ok_or_else(|| {
            self.unsupported(
                node,
                format!("input `{name}` is not a constant (weights must be initializers)"),
            )
        })
    }

    /// Input `k` as a float tensor: its dims and values.
    fn float_input(&self, node: &NodeProto, k: usize) -> Result<(Vec<usize>, Vec<f32>)> {
        let name = node
            .input
            .get(k)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| self.corrupt(node, format!("input {k} is missing")))?;
        let t = self.tensor(node, name)?;
        let dims = tensor_dims(t).map_err(|e| self.corrupt(node, format!("`{name}`: {e}")))?;
        let v = read_floats(t).map_err(|e| self.corrupt(node, format!("`{name}`: {e}")))?;
        Ok((dims, v))
    }

    /// Input `k` as a vector of `len` floats.
    fn vector_input(&self, node: &NodeProto, k: usize, len: usize) -> Result<Vec<f32>> {
        let (dims, v) = self.float_input(node, k)?;
        if v.len() != len || dims.iter().filter(|&&d| d != 1).count() > 1 {
            return Err(self.corrupt(
                node,
                format!("input {k} of shape {dims:?}; expected ({len})"),
            ));
        }
        Ok(v)
    }

    fn int_tensor(&self, node: &NodeProto, name: &str) -> Result<Vec<i64>> {
        let t = self.tensor(node, name)?;
        read_ints(t).map_err(|e| self.corrupt(node, format!("`{name}`: {e}")))
    }

    /// The architecture from what the walk found, and the weights under our names.
    fn finish(self) -> Result<Checkpoint> {
        let path = self.path;
        let unsupported = |what: String| Error::Unsupported {
            path: path.into(),
            what,
        };
        if self.stage == Stage::Input || self.stage == Stage::Body {
            return Err(unsupported(format!(
                "the graph has {} convolutions and no global pool; not a MobileNet v1",
                self.convs.len()
            )));
        }
        let convs = &self.convs;
        let stem = &convs[0];
        if stem.dims[1] != 3 || (stem.dims[2], stem.dims[3]) != (3, 3) || stem.group != 1 {
            return Err(unsupported(format!(
                "the first convolution (`{}`) has weight {:?}; a MobileNet v1 stem is 3×3 from 3 channels",
                stem.node, stem.dims
            )));
        }
        let depthwise = convs.iter().filter(|c| c.group > 1).count();
        let rest = convs.len() - 1;
        let variant = match (depthwise, rest) {
            (13, 26) if stem.stride == 1 => Variant::Cifar,
            (13, 26) => Variant::Imagenet,
            (8, 16) => Variant::Shallow,
            (0, 13) => Variant::FullConv,
            _ => {
                return Err(unsupported(format!(
                    "{} convolutions ({depthwise} depthwise) after the stem; MobileNet v1 has 26 (13 depthwise)",
                    rest
                )))
            }
        };
        let last = convs.last().expect("at least the stem");
        let width = last.dims[0] as f32 / 1024.0;
        let act = stem.act.unwrap_or(Activation::Relu);
        if let Some(c) = convs.iter().find(|c| c.act != Some(act)) {
            return Err(unsupported(format!(
                "convolution `{}` is followed by {}; the stem by {}",
                c.node,
                c.act.map_or("no activation", |a| a.name()),
                act.name()
            )));
        }
        let classes = self.fc.as_ref().map_or(0, |f| f.classes);
        // Resolution: the declared input, else the pool's kernel times the total stride.
        let total_stride: usize = convs.iter().map(|c| c.stride).product();
        let resolution = match (self.input_hw, self.pool_kernel) {
            (Some((h, w)), _) if h == w => h,
            (Some((h, w)), _) => {
                return Err(unsupported(format!(
                    "a {h}×{w} input; MobileNet v1 takes square images"
                )))
            }
            (None, Some((k, _))) => k * total_stride,
            (None, None) if variant == Variant::Cifar => 32,
            (None, None) => 224,
        };
        let all_bn = convs.iter().all(|c| c.bn.is_some());
        let eps = stem.bn.as_ref().map(|b| b.eps);
        let same_eps = convs.iter().all(|c| c.bn.as_ref().map(|b| b.eps) == eps);
        let keep_bn = all_bn && same_eps && convs.iter().all(|c| c.bias.is_none());
        let mut config = MobileNetConfig {
            variant,
            width,
            resolution,
            classes,
            activation: act,
            padding: PaddingMode::Symmetric,
            bn_eps: eps.unwrap_or(1e-5),
            batch_norm: keep_bn,
            normalization: Normalization::TF,
        };
        config.validate().map_err(|e| e.in_file(path))?;
        // Padding: whichever mode gives every convolution the pads it has.
        let pads_of = |mode: PaddingMode| -> Vec<[usize; 4]> {
            let c = MobileNetConfig {
                padding: mode,
                ..config.clone()
            };
            c.layers()
                .iter()
                .filter(|l| {
                    !matches!(
                        l.kind,
                        LayerKind::AvgPool | LayerKind::Fc | LayerKind::Softmax
                    )
                })
                .map(|l| {
                    let p = l.padding;
                    [p.top, p.left, p.bottom, p.right]
                })
                .collect()
        };
        let matches = |want: &[[usize; 4]]| {
            want.len() == convs.len()
                && convs
                    .iter()
                    .zip(want)
                    .all(|(c, w)| c.pads == *w || c.pads == [usize::MAX; 4])
        };
        let auto = convs.iter().any(|c| c.pads == [usize::MAX; 4]);
        config.padding = if !auto && matches(&pads_of(PaddingMode::Symmetric)) {
            PaddingMode::Symmetric
        } else if matches(&pads_of(PaddingMode::TfSame)) {
            PaddingMode::TfSame
        } else {
            let want = pads_of(PaddingMode::TfSame);
            let (c, w) = convs
                .iter()
                .zip(&want)
                .find(|(c, w)| c.pads != **w)
                .map(|(c, w)| (c, *w))
                .unwrap_or((last, [0; 4]));
            return Err(unsupported(format!(
                "convolution `{}` pads {:?} (top, left, bottom, right); at {resolution}×{resolution} MobileNet v1 pads 1 on every side or as TF \"SAME\" ({w:?})",
                c.node, c.pads
            )));
        };
        if let Some((k, _)) = self.pool_kernel {
            let map = config
                .layers()
                .iter()
                .find(|l| l.kind == LayerKind::AvgPool)
                .map(|l| l.input[0]);
            if map != Some(k) {
                return Err(unsupported(format!(
                    "an AveragePool of kernel {k} on a {}×{} map; only a global pool is supported",
                    map.unwrap_or(0),
                    map.unwrap_or(0)
                )));
            }
        }
        // Weights, in layer order: the graph's n-th convolution is our n-th.
        let mut weights = Weights::new();
        let specs = config.layers();
        for (c, spec) in convs.iter().zip(specs.iter()) {
            let [o, i, kh, kw] = c.dims;
            let fits = match spec.kind {
                LayerKind::Stem | LayerKind::Conv => (kh, kw, c.group) == (3, 3, 1),
                LayerKind::Depthwise => (kh, kw, i) == (3, 3, 1) && c.group == o,
                LayerKind::Pointwise => (kh, kw, c.group) == (1, 1, 1),
                _ => false,
            };
            if !fits || c.stride != spec.stride {
                return Err(unsupported(format!(
                    "convolution `{}` (weight {:?}, group {}, stride {}) is where MobileNet v1 has its {} layer `{}` of stride {}",
                    c.node, c.dims, c.group, c.stride, spec.kind.name(), spec.name, spec.stride
                )));
            }
            let (shape, mut w) = match spec.kind {
                LayerKind::Stem | LayerKind::Conv => {
                    (vec![kh, kw, i, o], oihw_to_hwio(o, i, kh, kw, &c.weight))
                }
                LayerKind::Depthwise => (vec![kh, kw, o], c1hw_to_hwc(o, kh * kw, &c.weight)),
                _ => (vec![i, o], oi_to_io(o, i, &c.weight)),
            };
            let name = &spec.name;
            if keep_bn {
                let bn = c.bn.as_ref().expect("all convolutions have BatchNorm");
                weights.insert(format!("{name}.weight"), Param::new(shape, w));
                for (p, v) in [
                    ("weight", &bn.gamma),
                    ("bias", &bn.beta),
                    ("running_mean", &bn.mean),
                    ("running_var", &bn.var),
                ] {
                    weights.insert(
                        format!("{name}.bn.{p}"),
                        Param::new(vec![v.len()], v.clone()),
                    );
                }
            } else {
                let bias = match &c.bn {
                    Some(bn) => {
                        let mut mean = bn.mean.clone();
                        if let Some(b) = &c.bias {
                            // BN(Wx + b) = BN'(Wx) with the mean shifted by b.
                            for (m, b) in mean.iter_mut().zip(b) {
                                *m -= b;
                            }
                        }
                        BatchNorm {
                            gamma: &bn.gamma,
                            beta: &bn.beta,
                            mean: &mean,
                            var: &bn.var,
                            eps: bn.eps,
                        }
                        .fold(&mut w)
                    }
                    None => c.bias.clone().unwrap_or_else(|| vec![0.0; o]),
                };
                weights.insert(format!("{name}.weight"), Param::new(shape, w));
                weights.insert(format!("{name}.bias"), Param::new(vec![o], bias));
            }
        }
        if let Some(fc) = &self.fc {
            weights.insert(
                "fc.weight",
                Param::new(vec![fc.cin, fc.classes], fc.weight.clone()),
            );
            let b = fc.bias.clone().unwrap_or_else(|| vec![0.0; fc.classes]);
            weights.insert("fc.bias", Param::new(vec![fc.classes], b));
        }
        Ok(Checkpoint {
            config,
            weights,
            labels: Vec::new(),
        })
    }
}

fn node_name(node: &NodeProto) -> &str {
    if !node.name.is_empty() {
        &node.name
    } else {
        node.output.first().map_or("?", String::as_str)
    }
}

fn attr<'n>(node: &'n NodeProto, name: &str) -> Option<&'n super::proto::AttributeProto> {
    node.attribute.iter().find(|a| a.name == name)
}

fn int(node: &NodeProto, name: &str) -> Option<i64> {
    attr(node, name).map(|a| a.i)
}

fn float(node: &NodeProto, name: &str) -> Option<f32> {
    attr(node, name).map(|a| a.f)
}

fn ints(node: &NodeProto, name: &str) -> Option<Vec<i64>> {
    attr(node, name).map(|a| a.ints.clone())
}

/// A tensor's dims, each ≥ 0, with a product that fits.
fn tensor_dims(t: &TensorProto) -> std::result::Result<Vec<usize>, String> {
    let dims = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|_| format!("dims {:?}", t.dims))?;
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("dims {:?} overflow", t.dims))?;
    Ok(dims)
}

/// Moves initializers stored outside the model into their `raw_data`: PyTorch's exporter (the
/// dynamo one) writes the weights to `model.onnx.data` beside `model.onnx`. A `location` must
/// be a plain relative path inside the model's folder (no `..`, no absolute path), and its
/// `offset` and `length` must lie inside that file.
fn load_external_data(model: &mut ModelProto, path: &Path) -> Result<()> {
    let Some(graph) = model.graph.as_mut() else {
        return Ok(());
    };
    let dir = path.parent().unwrap_or(Path::new(""));
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for t in graph
        .initializer
        .iter_mut()
        .filter(|t| t.data_location == 1)
    {
        let name = t.name.clone();
        let bad = |what: String| Error::corrupt(path, format!("initializer `{name}`: {what}"));
        let field = |key: &str| {
            t.external_data
                .iter()
                .find(|e| e.key == key)
                .map(|e| e.value.clone())
        };
        let number = |key: &str| -> Result<Option<usize>> {
            field(key)
                .map(|v| {
                    v.parse::<usize>()
                        .map_err(|_| bad(format!("external `{key}` is `{v}`")))
                })
                .transpose()
        };
        let location =
            field("location").ok_or_else(|| bad("external data without a location".into()))?;
        let rel = Path::new(&location);
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(bad(format!(
                "external data location `{location}` is not a file inside the model's folder"
            )));
        }
        let (offset, length) = (number("offset")?.unwrap_or(0), number("length")?);
        if !files.contains_key(&location) {
            let file = dir.join(rel);
            let data = std::fs::read(&file).map_err(|e| Error::io(&file, e))?;
            files.insert(location.clone(), data);
        }
        let data = &files[&location];
        let end = match length {
            Some(l) => offset.checked_add(l),
            None => Some(data.len()),
        };
        let bytes = end.and_then(|end| data.get(offset..end)).ok_or_else(|| {
            bad(format!(
                "external data at offset {offset}, length {length:?} lies outside `{location}` ({} bytes)",
                data.len()
            ))
        })?;
        t.raw_data = bytes.to_vec();
        t.data_location = 0;
        t.external_data.clear();
    }
    Ok(())
}

/// A FLOAT tensor's values, from `raw_data` or `float_data`, checked against its dims.
fn read_floats(t: &TensorProto) -> std::result::Result<Vec<f32>, String> {
    if t.data_location == 1 {
        return Err("its data is in an external file, which is not supported".into());
    }
    if t.data_type != data_type::FLOAT {
        return Err(format!(
            "data type {} (expected FLOAT)",
            data_type::name(t.data_type)
        ));
    }
    let n: usize = tensor_dims(t)?.iter().product();
    if !t.raw_data.is_empty() {
        if Some(t.raw_data.len()) != n.checked_mul(4) {
            return Err(format!(
                "{} bytes of data for dims {:?} ({n} floats)",
                t.raw_data.len(),
                t.dims
            ));
        }
        return Ok(t
            .raw_data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect());
    }
    if t.float_data.len() != n {
        return Err(format!(
            "{} values for dims {:?} ({n} floats)",
            t.float_data.len(),
            t.dims
        ));
    }
    Ok(t.float_data.clone())
}

/// An INT64 or INT32 tensor's values.
fn read_ints(t: &TensorProto) -> std::result::Result<Vec<i64>, String> {
    let n: usize = tensor_dims(t)?.iter().product();
    let (size, v): (usize, Vec<i64>) = match t.data_type {
        data_type::INT64 if !t.raw_data.is_empty() => (
            8,
            t.raw_data
                .chunks_exact(8)
                .map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes")))
                .collect(),
        ),
        data_type::INT64 => (8, t.int64_data.clone()),
        data_type::INT32 if !t.raw_data.is_empty() => (
            4,
            t.raw_data
                .chunks_exact(4)
                .map(|b| i32::from_le_bytes(b.try_into().expect("4 bytes")) as i64)
                .collect(),
        ),
        data_type::INT32 => (4, t.int32_data.iter().map(|&v| v as i64).collect()),
        other => {
            return Err(format!(
                "data type {} (expected INT64)",
                data_type::name(other)
            ))
        }
    };
    if v.len() != n || (!t.raw_data.is_empty() && t.raw_data.len() != n * size) {
        return Err(format!("{} values for dims {:?}", v.len(), t.dims));
    }
    Ok(v)
}
