//! Export of a [`QuantCheckpoint`] to a full-integer TFLite flatbuffer, as TFLite's int8
//! converter lays it out: int8 activations (our uint8 values − 128, zero points likewise),
//! int8 weights with one symmetric scale per output channel (`quantized_dimension` 0 for
//! CONV_2D and FULLY_CONNECTED, 3 for DEPTHWISE_CONV_2D), int32 biases in units of
//! `input scale × weight scale`, and a uint8-style softmax output of 1/256 (int8 zero point
//! −128). The graph is the float writer's ([`super::write`]): the same operators, padding and
//! metadata, so that our importer reads it back to the same [`QuantCheckpoint`] and LiteRT
//! runs it.

use std::path::Path;

use super::schema::*;
use super::write::{conv_padding, metadata, pool, serialize, Graph, Options, Quant};
use crate::config::{Activation, LayerKind};
use crate::error::{Error, Result};
use crate::io::layout::{hwio_to_ohwi, io_to_oi};
use crate::quant::{QParams, QuantCheckpoint};

/// Writes `q` as an int8 `.tflite` file at `path`, atomically.
pub fn export_tflite_quantized(q: &QuantCheckpoint, path: &Path) -> Result<()> {
    let bytes = export_tflite_quantized_bytes(q, path)?;
    crate::io::native::write_atomic(path, &bytes)
}

/// One scale and zero point of an activation, in the int8 convention.
fn activation(p: QParams) -> Option<Quant> {
    Some(Quant {
        scale: vec![p.scale],
        zero_point: vec![p.zero_point as i64 - 128],
        dimension: 0,
    })
}

/// The bytes [`export_tflite_quantized`] writes; `path` is for messages.
pub fn export_tflite_quantized_bytes(q: &QuantCheckpoint, path: &Path) -> Result<Vec<u8>> {
    let c = &q.config;
    let unsupported = |what: String| Error::Unsupported {
        path: path.into(),
        what,
    };
    let specs: Vec<_> = c
        .layers()
        .into_iter()
        .filter(|s| s.kind != LayerKind::Softmax)
        .collect();
    if specs.len() != q.layers.len() || specs.iter().any(|s| s.kind == LayerKind::Conv) {
        return Err(unsupported(format!(
            "{} quantized layers for a {} network of {} layers",
            q.layers.len(),
            c.variant.name(),
            specs.len()
        )));
    }
    let mut g = Graph::new();
    let r = c.resolution;
    let input = g.quantized("input", &[1, r, r, 3], INT8, 0, activation(q.input));
    let mut x = input;
    for (spec, l) in specs.iter().zip(&q.layers) {
        let [h, w, cin] = spec.input;
        let [oh, ow, cout] = spec.output;
        match spec.kind {
            LayerKind::AvgPool if l.output != l.input => {
                return Err(unsupported(format!(
                    "the pool requantizes ({:?} → {:?}); TFLite's keeps its input's quantization",
                    l.input, l.output
                )))
            }
            LayerKind::AvgPool => {
                x = pool(&mut g, x, [h, w, cin], c.has_classifier());
                continue;
            }
            LayerKind::Softmax | LayerKind::Conv => unreachable!("filtered and refused above"),
            LayerKind::Stem | LayerKind::Depthwise | LayerKind::Pointwise | LayerKind::Fc => {}
        }
        if l.weight_zero_point.iter().any(|&z| z != 0) {
            return Err(unsupported(format!(
                "`{}` has asymmetric weights (zero point {}); TFLite's int8 scheme needs them \
                 symmetric",
                spec.name,
                l.weight_zero_point.iter().find(|&&z| z != 0).unwrap_or(&0)
            )));
        }
        let scales: Vec<f32> = if l.weight_scale.len() == 1 {
            vec![l.weight_scale[0]; cout]
        } else {
            l.weight_scale.clone()
        };
        let values: Vec<f32> = l.weight.iter().map(|&v| v as f32).collect();
        let (shape, data, dimension): (Vec<usize>, Vec<f32>, i32) = match spec.kind {
            LayerKind::Stem => (
                vec![cout, 3, 3, cin],
                hwio_to_ohwi(9 * cin, cout, &values),
                0,
            ),
            LayerKind::Depthwise => (vec![1, 3, 3, cin], values, 3),
            LayerKind::Pointwise => (vec![cout, 1, 1, cin], io_to_oi(cin, cout, &values), 0),
            _ => (vec![cout, cin], io_to_oi(cin, cout, &values), 0),
        };
        let weight = Quant {
            scale: scales.clone(),
            zero_point: vec![0; cout],
            dimension,
        };
        let wb = g.buffer(data.iter().map(|&v| v as i8 as u8).collect());
        let wname = format!("{}.weight", spec.name);
        let k = g.quantized(&wname, &shape, INT8, wb, Some(weight));
        let bias = Quant {
            scale: scales.iter().map(|&s| s * l.input.scale).collect(),
            zero_point: vec![0; cout],
            dimension: 0,
        };
        let bb = g.buffer(l.bias.iter().flat_map(|v| v.to_le_bytes()).collect());
        let b = g.quantized(
            &format!("{}.bias", spec.name),
            &[cout],
            INT32,
            bb,
            Some(bias),
        );
        if spec.kind == LayerKind::Fc {
            let y = g.quantized("logits", &[1, cout], INT8, 0, activation(l.output));
            g.op(
                FULLY_CONNECTED,
                vec![x, k, b],
                vec![y],
                Options::FullyConnected,
            );
            x = y;
            continue;
        }
        let same = conv_padding(&mut g, spec, &mut x);
        let act = match l.activation {
            None => ACT_NONE,
            Some(Activation::Relu) => ACT_RELU,
            Some(Activation::Relu6) => ACT_RELU6,
        };
        let y = g.quantized(
            &spec.name,
            &[1, oh, ow, cout],
            INT8,
            0,
            activation(l.output),
        );
        let stride = spec.stride as i32;
        let (code, options) = match spec.kind {
            LayerKind::Depthwise => (DEPTHWISE_CONV_2D, Options::Depthwise { same, stride, act }),
            _ => (CONV_2D, Options::Conv { same, stride, act }),
        };
        g.op(code, vec![x, k, b], vec![y], options);
        x = y;
    }
    if let Some(sq) = q.softmax {
        let y = g.quantized("output", &[1, c.classes], INT8, 0, activation(sq));
        g.op(SOFTMAX, vec![x], vec![y], Options::Softmax);
        x = y;
    }
    Ok(serialize(&g, input, x, &metadata(c, &q.labels)))
}
