//! The native int8 path: a quantized model as a file holds it ([`QuantCheckpoint`]: int8
//! weights, int32 biases, every tensor's scale and zero point) and its inference plan
//! ([`QuantModel`], in `plan.rs`), which runs TFLite's integer arithmetic on the kernel
//! table's `q8` entries.
//!
//! Conventions are the kernels' (`mobilenet_kernels::quant`): activations are uint8 with a
//! zero point (int8 tensors are stored shifted by +128), weights int8 with a zero point per
//! channel (uint8 weights shifted by −128). Nothing is dequantized: a layer's uint8 output is
//! exactly what TFLite's reference kernels write.

mod calibrate;
mod plan;

pub use calibrate::{quantize, quantize_with};
pub use plan::QuantModel;

use crate::config::{Activation, LayerKind, MobileNetConfig};

/// An activation tensor's quantization: `real = scale·(q − zero_point)`, `q` in `0..=255`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QParams {
    pub scale: f32,
    pub zero_point: i32,
}

impl QParams {
    /// TFLite's `CalculateActivationRangeQuantized`: the clamp a fused activation implies,
    /// `zp + round(f / scale)` in f32, within `0..=255`.
    pub fn activation_range(self, act: Option<Activation>) -> (i32, i32) {
        let q = |f: f32| self.zero_point + (f / self.scale).round() as i32;
        match act {
            None => (0, 255),
            Some(Activation::Relu) => (q(0.0).max(0), 255),
            Some(Activation::Relu6) => (q(0.0).max(0), q(6.0).min(255)),
        }
    }

    /// A real value to its quantized byte, rounded (halves away from zero) and clamped: the
    /// `q8.quantize` reference kernel on one value.
    #[inline]
    pub fn quantize(self, v: f32) -> u8 {
        let mut q = [0u8];
        mobilenet_kernels::reference::q8::quantize(&[v], self.scale, self.zero_point, &mut q);
        q[0]
    }

    pub fn dequantize(self, q: u8) -> f32 {
        self.scale * (q as i32 - self.zero_point) as f32
    }
}

/// One quantized layer as the file holds it, weights in our layouts (stem HWIO, depthwise
/// (3, 3, C), pointwise and fc (Cin, Cout)); empty weights for the pool.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantLayer {
    pub name: String,
    pub kind: LayerKind,
    pub weight: Vec<i8>,
    /// One, or one per output channel.
    pub weight_zero_point: Vec<i32>,
    /// One, or one per output channel.
    pub weight_scale: Vec<f32>,
    pub bias: Vec<i32>,
    pub input: QParams,
    pub output: QParams,
    pub activation: Option<Activation>,
    /// The layer's input was a uint8 tensor in the file: TFLite's legacy uint8 kernels form the
    /// requantization factor from the f32 product `s_x · s_w` (then f64), its int8 kernels from
    /// the f64 product. The two factors can differ in their last bits, and so can outputs.
    pub uint8_input: bool,
}

impl QuantLayer {
    /// The global average pool: no weights, its output quantized as its input (TFLite's
    /// uint8 and int8 pools require it).
    pub fn pool(name: &str, q: QParams, uint8_input: bool) -> QuantLayer {
        QuantLayer {
            name: name.to_string(),
            kind: LayerKind::AvgPool,
            weight: Vec::new(),
            weight_zero_point: Vec::new(),
            weight_scale: Vec::new(),
            bias: Vec::new(),
            input: q,
            output: q,
            activation: None,
            uint8_input,
        }
    }
}

/// A quantized MobileNet v1: the float configuration (shapes, normalization, labels) plus the
/// layers in execution order (stem, 13 × (depthwise, pointwise), pool, fc).
#[derive(Debug, Clone, PartialEq)]
pub struct QuantCheckpoint {
    pub config: MobileNetConfig,
    pub labels: Vec<String>,
    /// The network input's quantization.
    pub input: QParams,
    pub layers: Vec<QuantLayer>,
    /// The softmax's output quantization, when the file ends in one (Google's: 1/256, 0).
    pub softmax: Option<QParams>,
}

#[cfg(test)]
mod tests {
    use super::QParams;

    #[test]
    fn quantize_rounds_as_f32_round() {
        let q = QParams {
            scale: 1.0 / 128.0,
            zero_point: 128,
        };
        let odd = QParams {
            scale: 0.023_529_41,
            zero_point: 3,
        };
        let mut values = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            -1.5,
            f32::NAN,
            f32::MAX,
            f32::MIN,
        ];
        values.extend([0.5 - f32::EPSILON / 4.0, -(0.5 - f32::EPSILON / 4.0)]);
        values.extend((-2000..2000).map(|i| i as f32 / 997.0));
        values.extend((-600..600).map(|i| (i as f32 + 0.5) / 128.0));
        for p in [q, odd] {
            for &v in &values {
                let want = ((v / p.scale).round() as i32)
                    .saturating_add(p.zero_point)
                    .clamp(0, 255) as u8;
                assert_eq!(p.quantize(v), want, "{v} at scale {}", p.scale);
            }
        }
    }
}
