//! Pointwise convolution / fully connected layer on packed weights: the spec of every
//! `Kernels::pointwise_packed` entry (and its fallback).
//!
//! Legend: M = rows (N·H·W pixels, or the batch for the classifier), K = input channels,
//! N = output channels, NR = columns per weight panel (`crate::packed`).

use std::ops::Range;

use crate::gemm::MatMut;
use crate::geometry::Clamp;
use crate::packed::PackedWeights;

/// `y = clamp(x · w + b)` on the columns of weight panels `panels` only.
///
/// x: (M, K), w: (K, N) packed, b: (N), y: (M, cols) where `cols = w.cols(panels)`: the view's
/// column 0 is output column `panels.start·NR`.
pub fn pointwise_packed(
    x: &[f32],
    w: &PackedWeights,
    b: &[f32],
    clamp: Clamp,
    panels: Range<usize>,
    mut y: MatMut<'_>,
) {
    let (m, k) = (y.rows(), w.k);
    let cols = w.cols(panels);
    assert_eq!(x.len(), m * k, "pointwise_packed: x len");
    assert_eq!(b.len(), w.n, "pointwise_packed: b len");
    assert_eq!(y.cols(), cols.len(), "pointwise_packed: y cols");
    for i in 0..m {
        let xi = &x[i * k..(i + 1) * k];
        let yi = y.row_mut(i);
        for (jj, j) in cols.clone().enumerate() {
            let mut acc = 0.0f64;
            for (kk, &xv) in xi.iter().enumerate() {
                acc += xv as f64 * w.at(kk, j) as f64;
            }
            yi[jj] = clamp.apply(acc as f32 + b[j]);
        }
    }
}
