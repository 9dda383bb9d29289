//! Weights of a pointwise convolution / fully connected layer, packed once at model load for
//! our own GEMM microkernels (`Kernels::pointwise_packed`).
//!
//! Legend: K = input channels (reduction), N = output channels, NR = [`NR`] columns per panel,
//! P = ⌈N / NR⌉ panels.
//!
//! `w: (K, N)` row-major is cut into P column panels of NR columns; panel `p` holds columns
//! `p·NR .. p·NR + NR` stored K-major and contiguous: `data[(p·K + k)·NR + j] = w[k][p·NR + j]`,
//! so a microkernel walks one panel with unit stride, one NR-wide row of weights per `k`
//! (BLIS/GotoBLAS "B micro-panel", packed once instead of per call). The last panel is
//! zero-padded to NR columns, so kernels load whole vectors and mask only their stores.
//!
//! The layout is the same for every ISA (NR = 32 = two AVX-512 vectors = four AVX2 vectors),
//! so a model packed once runs on any kernel table (tests run one model on every table).

/// Columns per panel.
pub const NR: usize = 32;

/// `w: (K, N)` in panels of [`NR`] columns: `data: (P, K, NR)`, the last panel zero-padded.
#[derive(Clone, PartialEq)]
pub struct PackedWeights {
    /// Reduction length (rows of `w`).
    pub k: usize,
    /// Output columns of `w` (without padding).
    pub n: usize,
    /// Columns per panel ([`NR`]).
    pub nr: usize,
    /// (P, K, NR).
    pub data: Vec<f32>,
}

impl std::fmt::Debug for PackedWeights {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackedWeights")
            .field("k", &self.k)
            .field("n", &self.n)
            .field("nr", &self.nr)
            .finish_non_exhaustive()
    }
}

impl PackedWeights {
    /// Number of column panels, ⌈N / NR⌉.
    pub fn panels(&self) -> usize {
        self.n.div_ceil(self.nr)
    }

    /// Panel `p`: (K, NR).
    pub fn panel(&self, p: usize) -> &[f32] {
        let len = self.k * self.nr;
        &self.data[p * len..(p + 1) * len]
    }

    /// Columns `panels.start·NR .. min(panels.end·NR, N)` of `w`.
    pub fn cols(&self, panels: std::ops::Range<usize>) -> std::ops::Range<usize> {
        (panels.start * self.nr).min(self.n)..(panels.end * self.nr).min(self.n)
    }

    /// `w[kk][j]`, read back from the packed layout.
    pub fn at(&self, kk: usize, j: usize) -> f32 {
        assert!(kk < self.k && j < self.n, "PackedWeights: ({kk}, {j})");
        self.panel(j / self.nr)[kk * self.nr + j % self.nr]
    }
}

/// Packs `w: (K, N)` row-major into panels of [`NR`] columns.
pub fn pack_weights(k: usize, n: usize, w: &[f32]) -> PackedWeights {
    assert_eq!(w.len(), k * n, "pack_weights: w len");
    let nr = NR;
    let panels = n.div_ceil(nr);
    let mut data = vec![0.0f32; panels * k * nr];
    for p in 0..panels {
        let (c0, c1) = (p * nr, ((p + 1) * nr).min(n));
        for kk in 0..k {
            let dst = &mut data[(p * k + kk) * nr..][..c1 - c0];
            dst.copy_from_slice(&w[kk * n + c0..kk * n + c1]);
        }
    }
    PackedWeights { k, n, nr, data }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_is_lossless_and_zero_padded() {
        for (k, n) in [(1, 1), (3, 31), (8, 32), (33, 33), (5, 1001), (0, 7)] {
            let w: Vec<f32> = (0..k * n).map(|i| i as f32 + 0.5).collect();
            let pw = pack_weights(k, n, &w);
            assert_eq!(pw.data.len(), n.div_ceil(NR) * k * NR);
            for kk in 0..k {
                for j in 0..n {
                    assert_eq!(pw.at(kk, j), w[kk * n + j], "k={k},n={n} at ({kk},{j})");
                }
            }
            let live = k * n;
            let nonzero = pw.data.iter().filter(|v| **v != 0.0).count();
            assert_eq!(nonzero, live, "k={k},n={n}: padding must be zero");
        }
    }
}
