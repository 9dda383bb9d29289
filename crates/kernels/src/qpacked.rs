//! A quantized pointwise convolution / fully connected layer, prepared once at model load for
//! the uint8 GEMM kernels (`Q8Kernels::pointwise`): int8 weights packed for VNNI, and the
//! zero-point algebra folded into per-column constants.
//!
//! Legend: M = rows (pixels), K = input channels, N = output channels, KG = ⌈K / 4⌉ groups of
//! four reduction steps, NR = [`QNR`] columns per panel, P = ⌈N / NR⌉ panels.
//!
//! Packed layout: panel `p` holds columns `p·NR .. p·NR + NR` as KG blocks of NR × 4 bytes,
//! `data[((p·KG + g)·NR + j)·4 + t] = w[4g + t][p·NR + j]` (zero past K and past N): one
//! 64-byte vector per group, exactly what `vpdpbusd` multiplies with four broadcast input
//! bytes (oneDNN/XNNPACK's "4x16c4" packing).
//!
//! Pair layout ([`QPointwise::pairs`], for CPUs without VNNI, built on first use): the same
//! panels as KP = ⌈K / 2⌉ blocks of NR × 2 i16, `pairs[((p·KP + q)·NR + j)·2 + t] =
//! w'[2q + t][p·NR + j]` with `w' = w − wz` (in −255..=255): two 256-bit vectors per pair of
//! reduction steps, what `vpmaddwd` multiplies with a broadcast pair of inputs widened to
//! i16. With the zero point inside the weights there is no row term: `Σ (x−xz)(w−wz) + bias =
//! Σ x·w' + (bias − xz·Σ w')`, the second term [`PairLayout::col_const`].
//!
//! Byte pairs ([`QPointwise::byte_pairs_exact`]): where K is a multiple of 4 and every two
//! consecutive weights of a column satisfy `|w[2q]| + |w[2q+1]| ≤ 128` (7-bit weights always
//! do), `vpmaddubsw` on the packed layout is exact, since two u8 × i8 products then stay
//! within an i16; CPUs without VNNI multiply 32 bytes per instruction instead of 16 i16.
//!
//! The algebra: with `x` u8, `w` i8, zero points `xz` (one) and `wz[n]`,
//! `Σ_k (x−xz)(w−wz) + bias = Σ_k x·w − wz[n]·Σ_k x + (bias[n] − xz·Σ_k w + K·xz·wz[n])`.
//! The last term is [`QPointwise::col_const`]; the middle one needs each row's input sum, and
//! vanishes for symmetric weights. All of it is wrapping i32 arithmetic, so it agrees with the
//! direct sum bit for bit even where an accumulator would overflow.

use std::sync::OnceLock;

use crate::quant::{OutputQuant, Requant, REQUANT_LANES};

/// Columns per panel: one AVX-512 vector of i32 accumulators.
pub const QNR: usize = 16;

/// The largest `|w[2q][n]| + |w[2q+1][n]|` for which `vpmaddubsw` (u8 × i8, two products
/// summed into a saturating i16) cannot saturate: `255 · 128 = 32640 ≤ 32767`.
pub const BYTE_PAIR_LIMIT: i32 = 128;

/// Whether every two consecutive rows (2q, 2q + 1) of the (K, N) weights `w` keep
/// `|a| + |b| ≤` [`BYTE_PAIR_LIMIT`] in every column, an odd K's last row paired with a zero
/// row: the weight half of [`QPointwise::byte_pairs_exact`] (which also needs K a multiple of
/// 4), so that a caller can choose a K padded with zero rows before packing.
pub fn byte_pairs_fit(w: &[i8], n: usize) -> bool {
    let k = w.len().checked_div(n).unwrap_or(0);
    (0..k.div_ceil(2)).all(|q| {
        (0..n).all(|j| {
            let a = (w[2 * q * n + j] as i32).abs();
            let b = w.get((2 * q + 1) * n + j).map_or(0, |&v| (v as i32).abs());
            a + b <= BYTE_PAIR_LIMIT
        })
    })
}

/// A prepared quantized 1×1 layer: `y = requant(Σ (x−xz)(w−wz) + bias)`.
#[derive(Clone, PartialEq)]
pub struct QPointwise {
    pub k: usize,
    pub n: usize,
    /// `w: (K, N)` row-major, as given (what the reference kernel reads).
    pub w: Vec<i8>,
    /// Per output column, expanded from one or N given.
    pub w_zero_point: Vec<i32>,
    pub bias: Vec<i32>,
    pub x_zero_point: i32,
    pub out: OutputQuant,
    /// Whether any weight zero point is non-zero (then kernels need row sums).
    pub asymmetric: bool,
    /// The weight zero point when every column has the same one (per-tensor weights, such
    /// as Google's uint8 files, or symmetric ones): the row term `wz·Σx` is then one scalar
    /// per row, which a kernel can start its accumulators from.
    pub wz_uniform: Option<i32>,
    /// Packed weights, `(P, KG, NR, 4)`.
    pub data: Vec<i8>,
    /// `bias[n] − xz·Σ_k w[k][n] + K·xz·wz[n]`, padded to P·NR.
    pub col_const: Vec<i32>,
    /// `wz`, multipliers and shifts, padded to P·NR (vector loads never run past the end).
    pub wz_padded: Vec<i32>,
    pub multiplier: Vec<i32>,
    pub shift: Vec<i32>,
    /// The requantization constants of each 8 columns ([`Requant::lanes`]), P·NR / 8 blocks
    /// of [`crate::quant::REQUANT_LANES`].
    pub lanes: Vec<i32>,
    /// The same constants per panel for 16-lane vectors: `(P, 9, NR)`, vector `k` of panel
    /// `p` holding vector `k` of [`Requant::lanes`] of columns `p·NR .. p·NR + 8`, then of
    /// the next 8 (what the AVX-512 epilogue loads as operands).
    pub wide_lanes: Vec<i32>,
    /// Whether every column's accumulators are small enough for the early rounding
    /// ([`Requant::early_rounding_fits`] with `|bias| + 255·Σ|w − wz|`).
    pub early_rounding: bool,
    /// Whether `vpmaddubsw` is exact on these weights (see [`QPointwise::byte_pairs_exact`]).
    pub byte_pairs_exact: bool,
    /// The pair layout, `(P, KP, NR, 2)` i16, made by the first kernel that asks for it.
    pairs: Derived,
}

/// A layout computed from the fields beside it: equal whenever they are, built or not.
#[derive(Clone, Default)]
struct Derived(OnceLock<PairLayout>);

/// The pair layout (see the module docs).
#[derive(Clone, Debug)]
pub struct PairLayout {
    /// `w − wz` as i16, `(P, KP, NR, 2)`.
    pub w: Vec<i16>,
    /// `bias[n] − xz·Σ_k (w[k][n] − wz[n])`, padded to P·NR.
    pub col_const: Vec<i32>,
}

impl PartialEq for Derived {
    fn eq(&self, _: &Derived) -> bool {
        true
    }
}

impl std::fmt::Debug for QPointwise {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QPointwise")
            .field("k", &self.k)
            .field("n", &self.n)
            .field("asymmetric", &self.asymmetric)
            .field("wz_uniform", &self.wz_uniform)
            .finish_non_exhaustive()
    }
}

impl QPointwise {
    /// Prepares `w: (K, N)`; `w_zero_point` and `out.requant` hold one entry or N.
    pub fn new(
        k: usize,
        n: usize,
        w: Vec<i8>,
        w_zero_point: &[i32],
        bias: Vec<i32>,
        x_zero_point: i32,
        out: OutputQuant,
    ) -> QPointwise {
        assert_eq!(w.len(), k * n, "QPointwise: w is not (K, N)");
        assert_eq!(bias.len(), n, "QPointwise: bias length");
        assert!(
            w_zero_point.len() == 1 || w_zero_point.len() == n,
            "QPointwise: weight zero points"
        );
        assert!(out.fits(n), "QPointwise: output quantization");
        let wz: Vec<i32> = (0..n)
            .map(|j| w_zero_point[if w_zero_point.len() == 1 { 0 } else { j }])
            .collect();
        let panels = n.div_ceil(QNR);
        let kg = k.div_ceil(4);
        let mut data = vec![0i8; panels * kg * QNR * 4];
        for kk in 0..k {
            for j in 0..n {
                let (p, jj) = (j / QNR, j % QNR);
                let (g, t) = (kk / 4, kk % 4);
                data[((p * kg + g) * QNR + jj) * 4 + t] = w[kk * n + j];
            }
        }
        let padded = panels * QNR;
        let mut col_const = vec![0i32; padded];
        for j in 0..n {
            let col_sum = (0..k).fold(0i32, |s, kk| s.wrapping_add(w[kk * n + j] as i32));
            col_const[j] = bias[j]
                .wrapping_sub(x_zero_point.wrapping_mul(col_sum))
                .wrapping_add((k as i32).wrapping_mul(x_zero_point).wrapping_mul(wz[j]));
        }
        let (mut multiplier, mut shift) = out.expanded(n);
        multiplier.resize(padded, 0);
        shift.resize(padded, 0);
        let mut wz_padded = wz.clone();
        wz_padded.resize(padded, 0);
        let byte_pairs_exact = k.is_multiple_of(4) && byte_pairs_fit(&w, n);
        let early_rounding = (0..n).all(|j| {
            let taps: u64 = (0..k)
                .map(|kk| (w[kk * n + j] as i64 - wz[j] as i64).unsigned_abs())
                .sum();
            out.channel(j)
                .early_rounding_fits(bias[j].unsigned_abs() as u64 + 255 * taps)
        });
        let lanes = (0..padded / 8)
            .flat_map(|g| {
                Requant::lanes(std::array::from_fn(|l| Requant {
                    multiplier: multiplier[8 * g + l],
                    shift: shift[8 * g + l],
                }))
            })
            .collect::<Vec<i32>>();
        let wide_lanes = (0..panels)
            .flat_map(|p| {
                let lanes = &lanes;
                (0..REQUANT_LANES / 8).flat_map(move |k| {
                    (0..QNR).map(move |c| lanes[(2 * p + c / 8) * REQUANT_LANES + 8 * k + c % 8])
                })
            })
            .collect();
        QPointwise {
            k,
            n,
            w,
            asymmetric: wz.iter().any(|&z| z != 0),
            wz_uniform: wz.iter().all(|&z| z == wz[0]).then_some(wz[0]),
            w_zero_point: wz,
            bias,
            x_zero_point,
            out,
            data,
            col_const,
            wz_padded,
            multiplier,
            shift,
            lanes,
            wide_lanes,
            early_rounding,
            byte_pairs_exact,
            pairs: Derived::default(),
        }
    }

    /// The SIMD epilogue's rounding mode ([`crate::quant::rounding_mode`]).
    pub fn rounding(&self) -> u8 {
        crate::quant::rounding_mode(self.early_rounding, &self.out.requant)
    }

    /// Reduction pairs, ⌈K / 2⌉.
    pub fn pair_groups(&self) -> usize {
        self.k.div_ceil(2)
    }

    /// The weights in the pair layout (see the module docs), built on first call.
    pub fn pairs(&self) -> &PairLayout {
        self.pairs.0.get_or_init(|| {
            let (k, n, kp) = (self.k, self.n, self.pair_groups());
            let mut w = vec![0i16; self.panels() * kp * QNR * 2];
            let mut col_const = vec![0i32; self.panels() * QNR];
            for j in 0..n {
                let (p, jj) = (j / QNR, j % QNR);
                let wz = self.w_zero_point[j];
                let mut sum = 0i32;
                for kk in 0..k {
                    // i8 − i8 zero point: within −255..=255.
                    let v = self.w[kk * n + j] as i32 - wz;
                    w[((p * kp + kk / 2) * QNR + jj) * 2 + kk % 2] = v as i16;
                    sum = sum.wrapping_add(v);
                }
                col_const[j] = self.bias[j].wrapping_sub(self.x_zero_point.wrapping_mul(sum));
            }
            PairLayout { w, col_const }
        })
    }

    /// Number of column panels, ⌈N / NR⌉.
    pub fn panels(&self) -> usize {
        self.n.div_ceil(QNR)
    }

    /// Reduction groups of four, ⌈K / 4⌉.
    pub fn groups(&self) -> usize {
        self.k.div_ceil(4)
    }

    /// Panel `p`: (KG, NR, 4).
    pub fn panel(&self, p: usize) -> &[i8] {
        let len = self.groups() * QNR * 4;
        &self.data[p * len..(p + 1) * len]
    }

    /// Columns `panels.start·NR .. min(panels.end·NR, N)`.
    pub fn cols(&self, panels: std::ops::Range<usize>) -> std::ops::Range<usize> {
        (panels.start * QNR).min(self.n)..(panels.end * QNR).min(self.n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quant::Requant;

    #[test]
    fn packing_places_each_weight_once() {
        let (k, n) = (6, 19);
        let w: Vec<i8> = (0..k * n).map(|i| (i as i32 % 251 - 125) as i8).collect();
        let out = OutputQuant {
            requant: vec![Requant::from_real(0.01)],
            zero_point: 3,
            min: 0,
            max: 255,
        };
        let p = QPointwise::new(k, n, w.clone(), &[2], vec![0; n], 5, out);
        assert_eq!((p.panels(), p.groups()), (2, 2));
        for kk in 0..k {
            for j in 0..n {
                let panel = p.panel(j / QNR);
                let at = ((kk / 4) * QNR + j % QNR) * 4 + kk % 4;
                assert_eq!(panel[at], w[kk * n + j]);
            }
        }
        let nonzero = p.data.iter().filter(|&&v| v != 0).count();
        assert_eq!(nonzero, w.iter().filter(|&&v| v != 0).count());
        // col_const = −xz·Σw + K·xz·wz for a zero bias.
        let sum0: i32 = (0..k).map(|kk| w[kk * n] as i32).sum();
        assert_eq!(p.col_const[0], -5 * sum0 + 6 * 5 * 2);
        assert!(p.asymmetric);
        // The pair layout holds the same weights less their zero point, widened, and its
        // column constant −xz·Σ(w − wz) for a zero bias.
        let pairs = p.pairs();
        for kk in 0..k {
            for j in 0..n {
                let at = (((j / QNR) * p.pair_groups() + kk / 2) * QNR + j % QNR) * 2 + kk % 2;
                assert_eq!(pairs.w[at], w[kk * n + j] as i16 - 2);
            }
        }
        assert_eq!(pairs.col_const[0], -5 * (sum0 - 2 * k as i32));
    }
}
