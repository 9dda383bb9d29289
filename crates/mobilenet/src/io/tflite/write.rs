//! Export to a float32 TensorFlow Lite flatbuffer, as the TFLite converter lays MobileNet v1
//! out: BatchNorm folded into each convolution's bias, the activation fused into the
//! convolution, then AVERAGE_POOL_2D, RESHAPE, FULLY_CONNECTED and SOFTMAX (a body-only model
//! ends at the RESHAPE, its pooled features). TF "SAME" padding is TFLite's SAME; any other
//! padding (the symmetric padding of PyTorch-style models at stride 2) is an explicit PAD before
//! a VALID convolution. The input normalization and the labels go into the model's metadata
//! (`mobilenet.normalization`, `mobilenet.labels`), so that import → export → import keeps them.
//!
//! The flatbuffer is built with the `flatbuffers` crate's builder; the field ids are those of
//! tensorflow `lite/schema/schema.fbs` ([`super::schema`]).

use std::path::Path;

use flatbuffers::{FlatBufferBuilder, TableFinishedWIPOffset, WIPOffset};

use super::schema::*;
use crate::config::{Activation, LayerKind, LayerSpec, Variant};
use crate::error::{Error, Result};
use crate::params::Checkpoint;
use mobilenet_kernels::Padding4;

/// Metadata names (TFLite `Model.metadata`) of the input normalization and the labels (JSON).
pub const META_NORMALIZATION: &str = "mobilenet.normalization";
pub const META_LABELS: &str = "mobilenet.labels";

/// `BuiltinOptions` union tags.
mod options {
    pub const CONV_2D: u8 = 1;
    pub const DEPTHWISE_CONV_2D: u8 = 2;
    pub const POOL_2D: u8 = 5;
    pub const FULLY_CONNECTED: u8 = 8;
    pub const SOFTMAX: u8 = 9;
    pub const RESHAPE: u8 = 17;
    pub const PAD: u8 = 22;
}

/// The vtable slot of field `id`.
const fn slot(id: usize) -> u16 {
    4 + 2 * id as u16
}

struct TensorDef {
    name: String,
    shape: Vec<i32>,
    ty: i8,
    buffer: u32,
    quant: Option<Quant>,
}

/// A tensor's `QuantizationParameters`: one scale and zero point, or one per index of
/// `dimension`.
#[derive(Clone, Debug)]
pub(super) struct Quant {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub dimension: i32,
}

pub(super) struct OpDef {
    code: i32,
    inputs: Vec<i32>,
    outputs: Vec<i32>,
    options: Options,
}

#[derive(Clone, Copy)]
pub(super) enum Options {
    Conv { same: bool, stride: i32, act: i8 },
    Depthwise { same: bool, stride: i32, act: i8 },
    Pool { filter: [i32; 2] },
    FullyConnected,
    Softmax,
    Reshape,
    Pad,
}

/// The graph being assembled: tensors, constant buffers (buffer 0 is TFLite's empty one) and
/// operators in execution order.
#[derive(Default)]
pub(super) struct Graph {
    tensors: Vec<TensorDef>,
    buffers: Vec<Vec<u8>>,
    ops: Vec<OpDef>,
}

impl Graph {
    /// An empty graph: no tensors, and buffer 0, TFLite's empty one.
    pub(super) fn new() -> Graph {
        Graph {
            buffers: vec![Vec::new()],
            ..Graph::default()
        }
    }

    pub(super) fn activation(&mut self, name: &str, shape: &[usize]) -> i32 {
        self.tensor(name, shape, FLOAT32, 0)
    }

    fn tensor(&mut self, name: &str, shape: &[usize], ty: i8, buffer: u32) -> i32 {
        self.quantized(name, shape, ty, buffer, None)
    }

    /// A tensor with quantization parameters (`None`: a float tensor).
    pub(super) fn quantized(
        &mut self,
        name: &str,
        shape: &[usize],
        ty: i8,
        buffer: u32,
        quant: Option<Quant>,
    ) -> i32 {
        self.tensors.push(TensorDef {
            name: name.into(),
            shape: shape.iter().map(|&d| d as i32).collect(),
            ty,
            buffer,
            quant,
        });
        self.tensors.len() as i32 - 1
    }

    /// An activation of the type and quantization of tensor `of` (a PAD's output, say).
    pub(super) fn like(&mut self, name: &str, shape: &[usize], of: i32) -> i32 {
        let t = &self.tensors[of as usize];
        let (ty, quant) = (t.ty, t.quant.clone());
        self.quantized(name, shape, ty, 0, quant)
    }

    /// A constant holding `bytes`; returns its buffer index.
    pub(super) fn buffer(&mut self, bytes: Vec<u8>) -> u32 {
        self.buffers.push(bytes);
        self.buffers.len() as u32 - 1
    }

    fn constant_f32(&mut self, name: &str, shape: &[usize], data: &[f32]) -> i32 {
        self.buffers
            .push(data.iter().flat_map(|v| v.to_le_bytes()).collect());
        let b = self.buffers.len() as u32 - 1;
        self.tensor(name, shape, FLOAT32, b)
    }

    pub(super) fn constant_i32(&mut self, name: &str, shape: &[usize], data: &[i32]) -> i32 {
        self.buffers
            .push(data.iter().flat_map(|v| v.to_le_bytes()).collect());
        let b = self.buffers.len() as u32 - 1;
        self.tensor(name, shape, INT32, b)
    }

    pub(super) fn op(&mut self, code: i32, inputs: Vec<i32>, outputs: Vec<i32>, options: Options) {
        self.ops.push(OpDef {
            code,
            inputs,
            outputs,
            options,
        });
    }
}

/// Writes `ckpt` as a float32 `.tflite` file at `path`, atomically.
pub fn export_tflite(ckpt: &Checkpoint, path: &Path) -> Result<()> {
    let bytes = export_tflite_bytes(ckpt, path)?;
    crate::io::native::write_atomic(path, &bytes)
}

/// The bytes [`export_tflite`] writes; `path` is for messages.
pub fn export_tflite_bytes(ckpt: &Checkpoint, path: &Path) -> Result<Vec<u8>> {
    let c = &ckpt.config;
    if c.variant == Variant::FullConv {
        return Err(Error::Unsupported {
            path: path.into(),
            what: "the full-conv variant has no TFLite export (its dense 3×3 blocks are not a \
                   MobileNet v1 graph our importer reads back)"
                .into(),
        });
    }
    let folded = ckpt.fold_batch_norm();
    let w = |name: String| folded.weights.get(&name).expect("checked checkpoint");
    let act = match c.activation {
        Activation::Relu => ACT_RELU,
        Activation::Relu6 => ACT_RELU6,
    };
    let mut g = Graph {
        buffers: vec![Vec::new()],
        ..Graph::default()
    };
    let r = c.resolution;
    let input = g.activation("input", &[1, r, r, 3]);
    let mut x = input;
    for spec in c.layers() {
        let [h, wd, cin] = spec.input;
        let [oh, ow, cout] = spec.output;
        match spec.kind {
            LayerKind::Stem | LayerKind::Depthwise | LayerKind::Pointwise => {
                let same = conv_padding(&mut g, &spec, &mut x);
                let weight = w(format!("{}.weight", spec.name));
                let (shape, data): (Vec<usize>, Vec<f32>) = match spec.kind {
                    LayerKind::Stem => (
                        vec![cout, 3, 3, cin],
                        crate::io::layout::hwio_to_ohwi(9 * cin, cout, &weight.data),
                    ),
                    LayerKind::Depthwise => (vec![1, 3, 3, cin], weight.data.clone()),
                    _ => (
                        vec![cout, 1, 1, cin],
                        crate::io::layout::io_to_oi(cin, cout, &weight.data),
                    ),
                };
                let k = g.constant_f32(&format!("{}.weight", spec.name), &shape, &data);
                let bias = w(format!("{}.bias", spec.name));
                let b = g.constant_f32(&format!("{}.bias", spec.name), &[cout], &bias.data);
                let y = g.activation(&spec.name, &[1, oh, ow, cout]);
                let stride = spec.stride as i32;
                let (code, options) = match spec.kind {
                    LayerKind::Depthwise => {
                        (DEPTHWISE_CONV_2D, Options::Depthwise { same, stride, act })
                    }
                    _ => (CONV_2D, Options::Conv { same, stride, act }),
                };
                g.op(code, vec![x, k, b], vec![y], options);
                x = y;
            }
            LayerKind::AvgPool => x = pool(&mut g, x, [h, wd, cin], c.has_classifier()),
            LayerKind::Fc => {
                let weight = w("fc.weight".into());
                let data = crate::io::layout::io_to_oi(cin, cout, &weight.data);
                let k = g.constant_f32("fc.weight", &[cout, cin], &data);
                let b = g.constant_f32("fc.bias", &[cout], &w("fc.bias".into()).data);
                let y = g.activation("logits", &[1, cout]);
                g.op(
                    FULLY_CONNECTED,
                    vec![x, k, b],
                    vec![y],
                    Options::FullyConnected,
                );
                x = y;
            }
            LayerKind::Softmax => {
                let y = g.activation("output", &[1, c.classes]);
                g.op(SOFTMAX, vec![x], vec![y], Options::Softmax);
                x = y;
            }
            LayerKind::Conv => unreachable!("full-conv refused above"),
        }
    }
    Ok(serialize(&g, input, x, &metadata(c, &ckpt.labels)))
}

/// The metadata entries: the input normalization, and the labels when there are any.
pub(super) fn metadata(
    c: &crate::config::MobileNetConfig,
    labels: &[String],
) -> Vec<(&'static str, Vec<u8>)> {
    let norm = serde_json::to_string(&c.normalization).expect("serializes");
    let mut metadata = vec![(META_NORMALIZATION, norm.into_bytes())];
    if !labels.is_empty() {
        let labels = serde_json::to_string(labels).expect("serializes");
        metadata.push((META_LABELS, labels.into_bytes()));
    }
    metadata
}

/// AVERAGE_POOL_2D over the whole `[h, w, c]` map, then RESHAPE to (1, c): the features
/// (or a body-only model's output). Both tensors take `x`'s type and quantization (TFLite's
/// quantized pools keep their input's). Returns the reshaped tensor.
pub(super) fn pool(g: &mut Graph, x: i32, [h, w, c]: [usize; 3], classifier: bool) -> i32 {
    let y = g.like("pool", &[1, 1, 1, c], x);
    let filter = [h as i32, w as i32];
    g.op(AVERAGE_POOL_2D, vec![x], vec![y], Options::Pool { filter });
    let shape = g.constant_i32("pool.shape", &[2], &[-1, c as i32]);
    let name = if classifier { "features" } else { "output" };
    let z = g.like(name, &[1, c], x);
    g.op(RESHAPE, vec![y, shape], vec![z], Options::Reshape);
    z
}

/// Emits a PAD before the convolution when its padding is not what TFLite's SAME (3×3) or VALID
/// (1×1) gives, moving `x` to the padded tensor; returns whether the convolution is SAME.
pub(super) fn conv_padding(g: &mut Graph, spec: &LayerSpec, x: &mut i32) -> bool {
    let [h, w, c] = spec.input;
    let p = spec.padding;
    if spec.kind == LayerKind::Pointwise {
        return false; // 1×1: VALID, no padding
    }
    if p == Padding4::tf_same(h, w, spec.stride) {
        return true;
    }
    let pads = [0, 0, p.top, p.bottom, p.left, p.right].map(|v| v as i32);
    let mut all = pads.to_vec();
    all.extend([0, 0]);
    let name = format!("{}.pad", spec.name);
    let paddings = g.constant_i32(&format!("{name}.paddings"), &[4, 2], &all);
    let shape = [1, h + p.top + p.bottom, w + p.left + p.right, c];
    let y = g.like(&name, &shape, *x);
    g.op(PAD, vec![*x, paddings], vec![y], Options::Pad);
    *x = y;
    false
}

/// The flatbuffer of `g` with `input` and `output` as the subgraph's ends.
pub(super) fn serialize(
    g: &Graph,
    input: i32,
    output: i32,
    metadata: &[(&str, Vec<u8>)],
) -> Vec<u8> {
    let mut b =
        FlatBufferBuilder::with_capacity(g.buffers.iter().map(Vec::len).sum::<usize>() + 65536);
    type Table = WIPOffset<TableFinishedWIPOffset>;

    // Operator codes: one per distinct builtin, in first-use order.
    let mut codes: Vec<i32> = Vec::new();
    for op in &g.ops {
        if !codes.contains(&op.code) {
            codes.push(op.code);
        }
    }
    let code_tables: Vec<Table> = codes
        .iter()
        .map(|&code| {
            let s = b.start_table();
            b.push_slot::<i8>(slot(0), code.min(127) as i8, 0);
            b.push_slot::<i32>(slot(2), 1, 0); // version
            b.push_slot::<i32>(slot(3), code, 0);
            b.end_table(s)
        })
        .collect();
    let tensors: Vec<Table> = g
        .tensors
        .iter()
        .map(|t| {
            let quant = t.quant.as_ref().map(|q| {
                let scale = b.create_vector(&q.scale);
                let zero_point = b.create_vector(&q.zero_point);
                let s = b.start_table();
                b.push_slot_always(slot(2), scale);
                b.push_slot_always(slot(3), zero_point);
                b.push_slot::<i32>(slot(6), q.dimension, 0);
                b.end_table(s)
            });
            let shape = b.create_vector(&t.shape);
            let name = b.create_string(&t.name);
            let s = b.start_table();
            b.push_slot_always(slot(0), shape);
            b.push_slot::<i8>(slot(1), t.ty, 0);
            b.push_slot::<u32>(slot(2), t.buffer, 0);
            b.push_slot_always(slot(3), name);
            if let Some(q) = quant {
                b.push_slot_always(slot(4), q);
            }
            b.end_table(s)
        })
        .collect();
    let ops: Vec<Table> = g
        .ops
        .iter()
        .map(|op| {
            let (tag, opts) = write_options(&mut b, op.options);
            let inputs = b.create_vector(&op.inputs);
            let outputs = b.create_vector(&op.outputs);
            let index = codes.iter().position(|&c| c == op.code).expect("listed") as u32;
            let s = b.start_table();
            b.push_slot::<u32>(slot(0), index, 0);
            b.push_slot_always(slot(1), inputs);
            b.push_slot_always(slot(2), outputs);
            b.push_slot::<u8>(slot(3), tag, 0);
            b.push_slot_always(slot(4), opts);
            b.end_table(s)
        })
        .collect();
    let tensors = b.create_vector(&tensors);
    let ops = b.create_vector(&ops);
    let inputs = b.create_vector(&[input]);
    let outputs = b.create_vector(&[output]);
    let sg_name = b.create_string("main");
    let s = b.start_table();
    b.push_slot_always(slot(0), tensors);
    b.push_slot_always(slot(1), inputs);
    b.push_slot_always(slot(2), outputs);
    b.push_slot_always(slot(3), ops);
    b.push_slot_always(slot(4), sg_name);
    let subgraph = b.end_table(s);

    let mut all_buffers: Vec<&[u8]> = g.buffers.iter().map(Vec::as_slice).collect();
    let first_meta = all_buffers.len() as u32;
    all_buffers.extend(metadata.iter().map(|(_, v)| v.as_slice()));
    let buffers: Vec<Table> = all_buffers
        .iter()
        .map(|data| {
            let data = (!data.is_empty()).then(|| b.create_vector(data));
            let s = b.start_table();
            if let Some(d) = data {
                b.push_slot_always(slot(0), d);
            }
            b.end_table(s)
        })
        .collect();
    let meta: Vec<Table> = metadata
        .iter()
        .enumerate()
        .map(|(k, (name, _))| {
            let name = b.create_string(name);
            let s = b.start_table();
            b.push_slot_always(slot(0), name);
            b.push_slot::<u32>(slot(1), first_meta + k as u32, 0);
            b.end_table(s)
        })
        .collect();
    let codes = b.create_vector(&code_tables);
    let subgraphs = b.create_vector(&[subgraph]);
    let description = b.create_string("MobileNet v1 (Howard et al. 2017), exported by mobilenet");
    let buffers = b.create_vector(&buffers);
    let meta = b.create_vector(&meta);
    let s = b.start_table();
    b.push_slot::<u32>(slot(0), 3, 0);
    b.push_slot_always(slot(1), codes);
    b.push_slot_always(slot(2), subgraphs);
    b.push_slot_always(slot(3), description);
    b.push_slot_always(slot(4), buffers);
    b.push_slot_always(slot(6), meta);
    let root = b.end_table(s);
    b.finish(root, Some("TFL3"));
    b.finished_data().to_vec()
}

/// An operator's options table and its union tag.
fn write_options(
    b: &mut FlatBufferBuilder<'_>,
    o: Options,
) -> (u8, WIPOffset<TableFinishedWIPOffset>) {
    let padding = |same: bool| if same { PADDING_SAME } else { PADDING_VALID };
    match o {
        Options::Conv { same, stride, act } => {
            let s = b.start_table();
            b.push_slot_always::<i8>(slot(0), padding(same));
            b.push_slot_always::<i32>(slot(1), stride);
            b.push_slot_always::<i32>(slot(2), stride);
            b.push_slot_always::<i8>(slot(3), act);
            b.push_slot_always::<i32>(slot(4), 1);
            b.push_slot_always::<i32>(slot(5), 1);
            (options::CONV_2D, b.end_table(s))
        }
        Options::Depthwise { same, stride, act } => {
            let s = b.start_table();
            b.push_slot_always::<i8>(slot(0), padding(same));
            b.push_slot_always::<i32>(slot(1), stride);
            b.push_slot_always::<i32>(slot(2), stride);
            b.push_slot_always::<i32>(slot(3), 1); // depth multiplier
            b.push_slot_always::<i8>(slot(4), act);
            b.push_slot_always::<i32>(slot(5), 1);
            b.push_slot_always::<i32>(slot(6), 1);
            (options::DEPTHWISE_CONV_2D, b.end_table(s))
        }
        Options::Pool { filter } => {
            let s = b.start_table();
            b.push_slot_always::<i8>(slot(0), PADDING_VALID);
            b.push_slot_always::<i32>(slot(1), 1);
            b.push_slot_always::<i32>(slot(2), 1);
            b.push_slot_always::<i32>(slot(3), filter[1]);
            b.push_slot_always::<i32>(slot(4), filter[0]);
            b.push_slot_always::<i8>(slot(5), ACT_NONE);
            (options::POOL_2D, b.end_table(s))
        }
        Options::FullyConnected => {
            let s = b.start_table();
            b.push_slot_always::<i8>(slot(0), ACT_NONE);
            (options::FULLY_CONNECTED, b.end_table(s))
        }
        Options::Softmax => {
            let s = b.start_table();
            b.push_slot_always::<f32>(slot(0), 1.0);
            (options::SOFTMAX, b.end_table(s))
        }
        Options::Reshape => {
            let s = b.start_table();
            (options::RESHAPE, b.end_table(s))
        }
        Options::Pad => {
            let s = b.start_table();
            (options::PAD, b.end_table(s))
        }
    }
}
