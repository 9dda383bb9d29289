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
//!
//! The 256-bit kernel also reads the whole [`QDW_BLOCK`]-channel blocks in a second layout,
//! [`QDepthwise::pairs`] and [`QDepthwise::block_lanes`]: two taps' bytes are interleaved
//! with one in-lane unpack and widened to i16 with two more, so that one `vpmaddwd` sums two
//! taps of 8 channels; its accumulators then hold the channels in the order
//! [`block_channel`] gives, which two narrowing packs undo. Layers of fewer than 32 channels
//! get the same layout for blocks of pixels instead ([`QDepthwise::packed_blocks`]).

use crate::quant::{OutputQuant, Requant, REQUANT_LANES};

/// Channel padding of the prepared vectors: one AVX-512 vector of i32.
pub const QDW_LANES: usize = 16;

/// Channels per block of the tap-pair layout: 32 bytes of one pixel.
pub const QDW_BLOCK: usize = 32;

/// Tap pairs of the tap-pair layout: (0, 1), (2, 3), (4, 5), (6, 7) and (8, none).
pub const QDW_PAIRS: usize = 5;

/// i32 values per accumulator vector in [`QDepthwise::block_lanes`]: the folded bias (8),
/// then the requantization constants of [`Requant::lanes`].
pub const QDW_LANE_PARAMS: usize = 8 + REQUANT_LANES;

/// The channel (within its block) held by lane `l` (0..8, or 0..16 in the 512-bit layout) of
/// accumulator `j` (0..4) of the tap-pair kernel: 32 bytes unpacked twice within 128-bit
/// lanes put channels 16L+4j..16L+4j+4 of 128-bit lane L in lanes 4L..4L+4.
pub const fn block_channel(j: usize, l: usize) -> usize {
    (l / 4) * 16 + j * 4 + l % 4
}

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
    /// `w − wz` of the C / [`QDW_BLOCK`] whole blocks as i16 pairs: per block, per tap pair
    /// q, 4 vectors of 16 i16 where vector j holds `(w'[2q][ch], w'[2q+1][ch])` at positions
    /// 2l, 2l+1 for `ch =` [`block_channel`]`(j, l)` (the ninth tap's partner is 0).
    pub pairs: Vec<i16>,
    /// Per whole block, per accumulator j, [`QDW_LANE_PARAMS`] i32 in [`block_channel`] order.
    pub block_lanes: Vec<i32>,
    /// Whether every channel's accumulators are small enough for the early rounding
    /// ([`Requant::early_rounding_fits`] with `|bias| + 255·Σ|w − wz|`).
    pub early_rounding: bool,
    /// Below one block (C < 32), the blocks of the packed layout instead of whole ones,
    /// C / gcd(C, 32) of them: in a stride-1 layer a row of pixels is a row of bytes and a
    /// horizontal tap is a shift by C bytes, so 32 consecutive output bytes are one block
    /// whose lane v holds channel (b·32 + v) mod C; a group of `packed_blocks` blocks covers
    /// a whole number of pixels ([`Self::packed_group`]) and the next group starts again at
    /// channel 0.
    pub packed_blocks: usize,
    /// The 512-bit kernel's layout of the C / [`QDW_WIDE_BLOCK`] whole 64-channel blocks, as
    /// [`Self::pairs`] with 16 lanes per accumulator ([`block_channel`] for `l` in 0..16):
    /// per block, per tap pair, 4 vectors of 32 i16.
    pub wide_pairs: Vec<i16>,
    /// Per whole 64-channel block, per accumulator j, the folded bias (16 i32) then the nine
    /// vectors of [`Requant::lanes`] with 16 lanes each (the lanes of `l` in 0..8, then of 8..16).
    pub wide_lanes: Vec<i32>,
    /// Up to 32 channels, the 512-bit kernel's packed blocks ([`Self::packed_blocks`] with
    /// 64-byte blocks, C / gcd(C, 64) of them, stored in `wide_pairs` and `wide_lanes` as
    /// whole blocks are); 0 above.
    pub wide_packed_blocks: usize,
}

/// Channels per block of the 512-bit tap-pair layout ([`QDepthwise::wide_pairs`]).
pub const QDW_WIDE_BLOCK: usize = 64;

/// i32 values per accumulator in [`QDepthwise::wide_lanes`]: the bias, then 9 vectors of 16.
pub const QDW_WIDE_LANE_PARAMS: usize = 16 + 2 * REQUANT_LANES;

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// The tap-pair layout of `blocks` blocks of `width` (32 or 64) bytes: lane v of block b holds
/// channel (b·width + v) mod C (whole blocks, or packed ones below a block), accumulator j
/// lane l channel [`block_channel`]`(j, l)` within its block. Per block, per tap pair, 4 vectors
/// of width/4 `(w'[2q], w'[2q+1])` i16 pairs; and per accumulator the folded bias (width/4
/// i32), then the nine vectors of [`Requant::lanes`], each width/4 lanes (the lanes of each 8
/// side by side).
fn tap_pair_layout(
    width: usize,
    blocks: usize,
    c: usize,
    taps: &[i32],
    bias_folded: &[i32],
    multiplier: &[i32],
    shift: &[i32],
) -> (Vec<i16>, Vec<i32>) {
    let cp = bias_folded.len();
    let lanes = width / 4;
    let mut pairs = Vec::with_capacity(blocks * QDW_PAIRS * 4 * 2 * lanes);
    let mut params = Vec::with_capacity(blocks * 4 * (lanes + 9 * lanes));
    for b in 0..blocks {
        let ch = |j, l| (b * width + block_channel(j, l)) % c;
        for q in 0..QDW_PAIRS {
            for j in 0..4 {
                for l in 0..lanes {
                    let tap = |t: usize| if t < 9 { taps[t * cp + ch(j, l)] } else { 0 };
                    // w − wz is in −255..=255 for i8 weights and zero points.
                    pairs.push(tap(2 * q) as i16);
                    pairs.push(tap(2 * q + 1) as i16);
                }
            }
        }
        for j in 0..4 {
            params.extend((0..lanes).map(|l| bias_folded[ch(j, l)]));
            let eights: Vec<[i32; REQUANT_LANES]> = (0..lanes / 8)
                .map(|h| {
                    Requant::lanes(std::array::from_fn(|l| Requant {
                        multiplier: multiplier[ch(j, 8 * h + l)],
                        shift: shift[ch(j, 8 * h + l)],
                    }))
                })
                .collect();
            for k in 0..REQUANT_LANES / 8 {
                for e in &eights {
                    params.extend_from_slice(&e[8 * k..8 * k + 8]);
                }
            }
        }
    }
    (pairs, params)
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
        let early_rounding = (0..c).all(|ch| {
            let taps: u64 = (0..9)
                .map(|t| (taps[t * cp + ch] as i64).unsigned_abs())
                .sum();
            out.channel(ch)
                .early_rounding_fits(bias[ch].unsigned_abs() as u64 + 255 * taps)
        });
        let (mut multiplier, mut shift) = out.expanded(c);
        multiplier.resize(cp, 0);
        shift.resize(cp, 0);
        // Whole blocks; or, below one block, the packed blocks (see `packed_blocks`).
        let (blocks, packed_blocks) = if c < QDW_BLOCK {
            (0, c / gcd(c, QDW_BLOCK))
        } else {
            (c / QDW_BLOCK, 0)
        };
        let layout = |width: usize, blocks: usize| {
            tap_pair_layout(width, blocks, c, &taps, &bias_folded, &multiplier, &shift)
        };
        let (pairs, block_lanes) = layout(QDW_BLOCK, blocks + packed_blocks);
        // Whole 64-channel blocks; or, up to 32 channels, the packed blocks of 64 bytes.
        let wide_packed_blocks = if c <= QDW_BLOCK {
            c / gcd(c, QDW_WIDE_BLOCK)
        } else {
            0
        };
        let (wide_pairs, wide_lanes) =
            layout(QDW_WIDE_BLOCK, c / QDW_WIDE_BLOCK + wide_packed_blocks);
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
            pairs,
            block_lanes,
            early_rounding,
            packed_blocks,
            wide_pairs,
            wide_lanes,
            wide_packed_blocks,
        }
    }

    /// Output pixels per group of the 64-byte packed layout (C·group = 64·
    /// [`Self::wide_packed_blocks`] bytes), or None when the layer has more than 32 channels.
    pub fn wide_packed_group(&self) -> Option<usize> {
        (self.wide_packed_blocks > 0).then(|| self.wide_packed_blocks * QDW_WIDE_BLOCK / self.c)
    }

    /// Output pixels per group of the packed layout (C·group = 32·[`Self::packed_blocks`]
    /// bytes), or None when the layer has whole blocks.
    pub fn packed_group(&self) -> Option<usize> {
        (self.packed_blocks > 0).then(|| self.packed_blocks * QDW_BLOCK / self.c)
    }

    /// The SIMD epilogue's rounding mode ([`crate::quant::rounding_mode`]).
    pub fn rounding(&self) -> u8 {
        crate::quant::rounding_mode(self.early_rounding, &self.out.requant)
    }

    /// The padded channel count CP (the row length of [`Self::taps`]).
    pub fn padded_channels(&self) -> usize {
        self.bias_folded.len()
    }
}
