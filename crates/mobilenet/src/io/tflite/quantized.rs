//! A quantized TFLite file as it is, for the native int8 path: the same reader and operator
//! table as the float import (`mod.rs`), but the weights stay int8, the biases int32, and every
//! activation tensor keeps its scale and zero point ([`QuantCheckpoint`]).
//!
//! Layout transform: the float import's (OHWI → HWIO, (1, 3, 3, C) → (3, 3, C),
//! (O, I) → (I, O)), applied to the integer values (exact in f32). Datatypes: uint8 tensors
//! (Google's files) and int8 ones (newer converters) are mapped onto the kernels' convention,
//! uint8 activations and int8 weights (see `mobilenet_kernels::quant`).

use std::path::Path;

use super::{check_identifier, schema, Layer, Model, Tensor};
use crate::config::LayerKind;
use crate::error::Result;
use crate::io::layout::{ohwi_to_hwio, oi_to_io};
use crate::quant::{QParams, QuantCheckpoint, QuantLayer};

/// Reads a TFLite MobileNet v1 with quantized activations; `Ok(None)` for a float file.
pub fn import_tflite_quantized(bytes: &[u8], path: &Path) -> Result<Option<QuantCheckpoint>> {
    let model = Model::read(check_identifier(bytes, path)?)?;
    let layers = model.layers()?;
    let config = model.config(&layers)?;
    let stem = &layers[0];
    let input_tensor = match stem.pad {
        Some((_, i)) => model.tensor_at(i, "the stem's PAD input")?,
        None => model.tensor(stem, 0, "input")?,
    };
    if !matches!(input_tensor.ty, schema::UINT8 | schema::INT8) {
        return Ok(None);
    }
    let input = model.activation_quant(input_tensor)?;
    let specs = config
        .layers()
        .into_iter()
        .filter(|l| l.kind != crate::config::LayerKind::Softmax);
    let mut out = Vec::new();
    for (spec, layer) in specs.zip(&layers) {
        if spec.kind != LayerKind::AvgPool {
            model.check_geometry(layer, &spec)?;
        }
        let x = match layer.pad {
            Some((_, i)) => model.tensor_at(i, "PAD input")?,
            None => model.tensor(layer, 0, "input")?,
        };
        let y = model.tensor_at(layer.outputs.first().copied().unwrap_or(-1), "output")?;
        let (input, output) = (model.activation_quant(x)?, model.activation_quant(y)?);
        if spec.kind == LayerKind::AvgPool {
            if input != output {
                return Err(model.unsupported(format!(
                    "the average pool (operator {}) requantizes ({input:?} → {output:?}); \
                     TFLite's uint8 pool keeps its input's quantization",
                    layer.index
                )));
            }
            out.push(QuantLayer::pool(&spec.name, input, x.ty == schema::UINT8));
            continue;
        }
        let cout = spec.output[2];
        let (weight, weight_zero_point, weight_scale) =
            model.quantized_weight(layer, &spec.name, cout)?;
        let expected = match spec.kind {
            LayerKind::Stem => 9 * spec.input[2] * cout,
            LayerKind::Depthwise => 9 * cout,
            _ => spec.input[2] * cout,
        };
        if weight.len() != expected {
            return Err(model.buf.err(format!(
                "`{}.weight` holds {} values; the network needs {expected}",
                spec.name,
                weight.len()
            )));
        }
        let bias = model.quantized_bias(layer, &spec.name, cout)?;
        out.push(QuantLayer {
            name: spec.name.clone(),
            kind: spec.kind,
            weight,
            weight_zero_point,
            weight_scale,
            bias,
            input,
            output,
            activation: model.activation_opt(layer)?,
            uint8_input: x.ty == schema::UINT8,
        });
    }
    // The softmax's output: the graph's last operator, when it is one.
    let softmax = match model.ops.last() {
        Some((code, _, _)) if *code == schema::SOFTMAX => {
            let outs = model.op_outputs.last().cloned().unwrap_or_default();
            let t = model.tensor_at(outs.first().copied().unwrap_or(-1), "softmax output")?;
            Some(model.activation_quant(t)?)
        }
        _ => None,
    };
    let mut q = QuantCheckpoint {
        config,
        labels: Vec::new(),
        input,
        layers: out,
        softmax,
    };
    // Our exporter's metadata: the float normalization the model was calibrated with (not
    // the one the input quantization implies) and the labels.
    model.apply_metadata(path, &mut q.config.normalization, &mut q.labels)?;
    Ok(Some(q))
}

impl Model<'_> {
    fn tensor_at(&self, i: i32, what: &str) -> Result<&Tensor> {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.tensors.get(i))
            .ok_or_else(|| {
                self.buf
                    .err(format!("{what} tensor index {i} of {}", self.tensors.len()))
            })
    }

    /// One scale and zero point of a uint8 or int8 activation, in the uint8 convention.
    fn activation_quant(&self, t: &Tensor) -> Result<QParams> {
        let name = t.short_name();
        let shift = match t.ty {
            schema::UINT8 => 0,
            schema::INT8 => 128,
            ty => {
                return Err(self.unsupported(format!(
                    "tensor `{name}` has type {ty} inside a quantized network (expected UINT8 or \
                     INT8)"
                )))
            }
        };
        match (&t.scale[..], &t.zero_point[..]) {
            ([scale], zp) if scale.is_finite() && *scale > 0.0 && zp.len() <= 1 => {
                let zero_point = zp.first().copied().unwrap_or(0) + shift;
                if !(0..=255).contains(&zero_point) {
                    return Err(self.buf.err(format!(
                        "tensor `{name}` has zero point {}",
                        zero_point - shift
                    )));
                }
                Ok(QParams {
                    scale: *scale,
                    zero_point: zero_point as i32,
                })
            }
            _ => Err(self.buf.err(format!(
                "activation tensor `{name}` has {} scales ({:?}) and {} zero points; expected one \
                 positive scale",
                t.scale.len(),
                t.scale.first(),
                t.zero_point.len()
            ))),
        }
    }

    /// The kernel as int8 in our layout, with its zero points and scales (one or `cout`).
    fn quantized_weight(
        &self,
        layer: &Layer,
        name: &str,
        cout: usize,
    ) -> Result<(Vec<i8>, Vec<i32>, Vec<f32>)> {
        let t = self.tensor(layer, 1, "weight")?;
        let wname = format!("{name}.weight");
        let shift = match t.ty {
            schema::UINT8 => -128i64,
            schema::INT8 => 0,
            ty => {
                return Err(self.unsupported(format!(
                    "`{wname}` has type {ty}; a quantized network's weights are UINT8 or INT8"
                )))
            }
        };
        let shape = self.shape(t)?;
        let data = self.buffer(t.buffer)?;
        let n: usize = shape.iter().product();
        if data.len() != n {
            return Err(self.buf.err(format!(
                "`{wname}` of shape {shape:?} holds {} bytes, not {n}",
                data.len()
            )));
        }
        let count = t.scale.len();
        if !(count == 1 || count == cout)
            || !(t.zero_point.len() == count || t.zero_point.is_empty())
            || t.scale.iter().any(|s| !s.is_finite() || *s <= 0.0)
        {
            return Err(self.buf.err(format!(
                "`{wname}` has {count} scales and {} zero points for {cout} channels",
                t.zero_point.len()
            )));
        }
        let zp: Vec<i32> = (0..count)
            .map(|c| t.zero_point.get(c).copied().unwrap_or(0) + shift)
            .map(|z| i32::try_from(z).ok().filter(|z| (-128..=127).contains(z)))
            .collect::<Option<_>>()
            .ok_or_else(|| {
                self.buf
                    .err(format!("`{wname}` has a zero point out of range"))
            })?;
        let values: Vec<f32> = data
            .iter()
            .map(|&b| match t.ty {
                schema::UINT8 => (b as i32 - 128) as f32,
                _ => b as i8 as f32,
            })
            .collect();
        let o = shape.first().copied().unwrap_or(1).max(1);
        let ours = match layer.kind {
            LayerKind::Stem => ohwi_to_hwio(o, values.len() / o, &values),
            LayerKind::Depthwise => values,
            _ if layer.code == schema::FULLY_CONNECTED || shape.len() == 4 => {
                oi_to_io(o, values.len() / o, &values)
            }
            _ => values,
        };
        Ok((
            ours.into_iter().map(|v| v as i8).collect(),
            zp,
            t.scale.clone(),
        ))
    }

    /// The int32 bias (zeros if the operator has none).
    fn quantized_bias(&self, layer: &Layer, name: &str, cout: usize) -> Result<Vec<i32>> {
        if !matches!(layer.inputs.get(2), Some(&i) if i >= 0) {
            return Ok(vec![0; cout]);
        }
        let t = self.tensor(layer, 2, "bias")?;
        let data = self.buffer(t.buffer)?;
        if t.ty != schema::INT32 || data.len() != cout * 4 {
            return Err(self.buf.err(format!(
                "`{name}.bias` has type {} and {} bytes; expected INT32 × {cout}",
                t.ty,
                data.len()
            )));
        }
        Ok(data
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}
