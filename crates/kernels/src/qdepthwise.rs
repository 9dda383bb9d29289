//! A quantized depthwise 3×3 layer, prepared once at model load for the uint8 depthwise kernels
//! (`Q8Kernels::dwconv3x3`): weights with their zero points subtracted, and the input zero
//! point folded into the bias.
//!
//! The algebra: with `x` u8, `w` i8, zero points `xz` and `wz[c]`, and `w' = w − wz`, TFLite's
//! accumulator over the taps inside the image is
//! `Σ_in (x − xz)·w' + bias = Σ_in x·w' + Σ_pad xz·w' + (bias − xz·Σ_all w')`:
//! a kernel that reads `xz` for every padded tap and starts from [`QDepthwise::bias_folded`]
//! needs no subtraction and no per-pixel border term. All of it is wrapping i32 arithmetic, so
//! it agrees with the direct sum bit for bit.
//!
//! Every per-channel vector is padded to a multiple of [`QDW_LANES`] with zeros, so that
//! vector loads never run past the end.

use crate::quant::OutputQuant;

/// Channel padding of the prepared vectors: one AVX-512 vector of i32.
pub const QDW_LANES: usize = 16;

/// A prepared quantized depthwise 3×3 layer: `y = requant(Σ (x−xz)(w−wz) + bias)`.
#[derive(Debug, Clone, PartialEq)]
pub struct QDepthwise {
    pub c: usize,
    /// `w: (3, 3, C)` as given (what the reference kernel reads).
    pub w: Vec<i8>,
    /// Per channel, expanded from one or C given.
    pub w_zero_point: Vec<i32>,
    pub bias: Vec<i32>,
    pub x_zero_point: i32,
    pub out: OutputQuant,
    /// `w − wz`, `(9, CP)` with CP = C rounded up to [`QDW_LANES`]; each value in −255..=255.
    pub taps: Vec<i32>,
    /// `bias − xz·Σ_t (w_t − wz)`, CP entries.
    pub bias_folded: Vec<i32>,
    /// Requantization multipliers and shifts, CP entries.
    pub multiplier: Vec<i32>,
    pub shift: Vec<i32>,
}

impl QDepthwise {
    /// Prepares `w: (3, 3, C)`; `w_zero_point` and `out.requant` hold one entry or C.
    pub fn new(
        c: usize,
        w: Vec<i8>,
        w_zero_point: &[i32],
        bias: Vec<i32>,
        x_zero_point: i32,
        out: OutputQuant,
    ) -> QDepthwise {
        assert!(c > 0, "QDepthwise: no channels");
        assert_eq!(w.len(), 9 * c, "QDepthwise: w is not (3, 3, C)");
        assert_eq!(bias.len(), c, "QDepthwise: bias length");
        assert!(
            w_zero_point.len() == 1 || w_zero_point.len() == c,
            "QDepthwise: weight zero points"
        );
        assert!(out.fits(c), "QDepthwise: output quantization");
        assert!(
            (0..=255).contains(&x_zero_point),
            "QDepthwise: input zero point"
        );
        let wz: Vec<i32> = (0..c)
            .map(|j| w_zero_point[if w_zero_point.len() == 1 { 0 } else { j }])
            .collect();
        let cp = c.div_ceil(QDW_LANES) * QDW_LANES;
        let mut taps = vec![0i32; 9 * cp];
        let mut bias_folded = vec![0i32; cp];
        for ch in 0..c {
            let mut sum = 0i32;
            for t in 0..9 {
                let v = w[t * c + ch] as i32 - wz[ch];
                taps[t * cp + ch] = v;
                sum = sum.wrapping_add(v);
            }
            bias_folded[ch] = bias[ch].wrapping_sub(x_zero_point.wrapping_mul(sum));
        }
        let (mut multiplier, mut shift) = out.expanded(c);
        multiplier.resize(cp, 0);
        shift.resize(cp, 0);
        QDepthwise {
            c,
            w,
            w_zero_point: wz,
            bias,
            x_zero_point,
            out,
            taps,
            bias_folded,
            multiplier,
            shift,
        }
    }

    /// The padded channel count CP (the row length of [`Self::taps`]).
    pub fn padded_channels(&self) -> usize {
        self.bias_folded.len()
    }
}
