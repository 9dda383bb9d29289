//! Post-training quantization: a float checkpoint and a few calibration images in, a
//! [`QuantCheckpoint`] out, in the scheme TFLite's full-integer converter uses.
//!
//! - Weights: symmetric int8 per output channel, `scale_c = max|w_c| / 127`, zero point 0,
//!   values in −127..=127 (BatchNorm folded first). [`quantize_with`] can keep them to 7 bits
//!   (−63..=63, `scale_c = max|w_c| / 63`), the range where CPUs without VNNI run the GEMM
//!   on `vpmaddubsw` exactly (`QPointwise::byte_pairs_exact`).
//! - Biases: int32 in units of `input scale × scale_c`.
//! - Activations: asymmetric uint8 per tensor (int8 + 128 in a TFLite file), from the range
//!   each layer's float output took over the calibration images, widened to include 0; the
//!   network input from the range the normalization maps pixels 0..=255 to.
//! - The average pool keeps its input's quantization (TFLite's requires it); the softmax
//!   output is 1/256 with zero point 0, as in Google's files.

use std::collections::HashMap;
use std::path::Path;

use mobilenet_kernels::Kernels;

use super::{QParams, QuantCheckpoint, QuantLayer};
use crate::config::LayerKind;
use crate::error::{Error, Result};
use crate::model::MobileNet;
use crate::params::Checkpoint;
use crate::tensor::Tensor;

/// Quantizes `ckpt`, calibrating the activations on `images` (normalized NHWC, as the model
/// reads them). `source` names the model in errors.
pub fn quantize(
    k: &Kernels,
    ckpt: &Checkpoint,
    images: &Tensor,
    source: &Path,
) -> Result<QuantCheckpoint> {
    quantize_with(k, ckpt, images, source, 8)
}

/// [`quantize`] with weights of `weight_bits` bits (8, or 7: values in −63..=63).
pub fn quantize_with(
    k: &Kernels,
    ckpt: &Checkpoint,
    images: &Tensor,
    source: &Path,
    weight_bits: u32,
) -> Result<QuantCheckpoint> {
    if !(7..=8).contains(&weight_bits) {
        return Err(Error::InvalidConfig {
            path: source.into(),
            what: format!("weights of {weight_bits} bits: 7 or 8 are supported"),
        });
    }
    let wmax = ((1i32 << (weight_bits - 1)) - 1) as f32;
    let folded = ckpt.fold_batch_norm();
    let net = MobileNet::new(&folded, source)?;
    let mut ranges: HashMap<String, (f32, f32)> = HashMap::new();
    let mut bad: Option<String> = None;
    net.forward_observed(k, images, &mut |name, y| {
        let r = ranges
            .entry(name.to_string())
            .or_insert((f32::INFINITY, f32::NEG_INFINITY));
        for &v in y {
            if !v.is_finite() {
                bad.get_or_insert_with(|| name.to_string());
                continue;
            }
            r.0 = r.0.min(v);
            r.1 = r.1.max(v);
        }
    })?;
    if let Some(layer) = bad {
        return Err(Error::InvalidConfig {
            path: source.into(),
            what: format!("layer `{layer}` computes a non-finite value on the calibration images"),
        });
    }
    let config = &ckpt.config;
    let norm = &config.normalization;
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    for c in 0..3 {
        let (m, s) = (norm.mean[c], norm.std[c]);
        for p in [0.0, 255.0] {
            lo = lo.min((p - m) / s);
            hi = hi.max((p - m) / s);
        }
    }
    let input = from_range(lo, hi);
    let weight = |name: &str| {
        folded
            .weights
            .get(name)
            .map(|p| p.data.as_slice())
            .ok_or_else(|| Error::MissingParam {
                path: source.into(),
                name: name.into(),
            })
    };
    let mut layers = Vec::new();
    let mut x = input;
    for spec in config.layers() {
        match spec.kind {
            LayerKind::Softmax => continue,
            LayerKind::Conv => {
                return Err(Error::Unsupported {
                    path: source.into(),
                    what: "the full-conv variant has no int8 path".into(),
                })
            }
            LayerKind::AvgPool => {
                layers.push(QuantLayer::pool(&spec.name, x, false));
                continue;
            }
            LayerKind::Stem | LayerKind::Depthwise | LayerKind::Pointwise | LayerKind::Fc => {}
        }
        let cout = spec.output[2];
        let w = weight(&format!("{}.weight", spec.name))?;
        let b = weight(&format!("{}.bias", spec.name))?;
        // Every layout we keep (HWIO, (3, 3, C), (I, O)) has the output channel last.
        let mut max_abs = vec![0f32; cout];
        for (i, &v) in w.iter().enumerate() {
            max_abs[i % cout] = max_abs[i % cout].max(v.abs());
        }
        let scale: Vec<f32> = max_abs
            .iter()
            .map(|&m| if m > 0.0 { m / wmax } else { 1.0 })
            .collect();
        let q: Vec<i8> = w
            .iter()
            .enumerate()
            .map(|(i, &v)| (v / scale[i % cout]).round().clamp(-wmax, wmax) as i8)
            .collect();
        let bias = b
            .iter()
            .zip(&scale)
            .map(|(&b, &s)| {
                let units = b as f64 / (x.scale as f64 * s as f64);
                units.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32
            })
            .collect();
        let (lo, hi) = ranges.get(&spec.name).copied().unwrap_or((0.0, 0.0));
        let output = from_range(lo, hi);
        let activation = (spec.kind != LayerKind::Fc).then_some(config.activation);
        layers.push(QuantLayer {
            name: spec.name.clone(),
            kind: spec.kind,
            weight: q,
            weight_zero_point: vec![0; cout],
            weight_scale: scale,
            bias,
            input: x,
            output,
            activation,
            uint8_input: false,
        });
        x = output;
    }
    Ok(QuantCheckpoint {
        config: folded.config.clone(),
        labels: ckpt.labels.clone(),
        input,
        layers,
        softmax: config.has_classifier().then_some(QParams {
            scale: 1.0 / 256.0,
            zero_point: 0,
        }),
    })
}

/// uint8 parameters covering `lo..=hi` widened to include 0 (so that 0, ReLU's floor and the
/// zero padding, is exact).
fn from_range(lo: f32, hi: f32) -> QParams {
    let (lo, hi) = (lo.min(0.0), hi.max(0.0));
    let scale = if hi > lo {
        (hi - lo) / 255.0
    } else {
        1.0 / 255.0
    };
    let zero_point = (-lo / scale).round().clamp(0.0, 255.0) as i32;
    QParams { scale, zero_point }
}

#[cfg(test)]
mod tests {
    use super::from_range;

    #[test]
    fn ranges_include_zero_exactly() {
        let q = from_range(0.0, 6.0);
        assert_eq!(q.zero_point, 0);
        assert!((q.scale - 6.0 / 255.0).abs() < 1e-7);
        let q = from_range(-1.0, 1.0);
        // 1 / (2/255) = 127.5 in exact arithmetic; f32 lands just below it.
        assert!((127..=128).contains(&q.zero_point), "{q:?}");
        assert_eq!(q.quantize(0.0) as i32, q.zero_point);
        let q = from_range(2.0, 3.0); // widened to 0..3
        assert_eq!((q.zero_point, q.quantize(0.0)), (0, 0));
        assert!(from_range(0.0, 0.0).scale > 0.0);
    }
}
