//! Fully connected classifier (paper Table 1, "FC / s1"): logits = x · W + b.

use mobilenet_kernels::{parallel, Clamp, Kernels, PackedWeights};

#[derive(Debug, Clone)]
pub struct Linear {
    pub cin: usize,
    pub cout: usize,
    /// (Cin, Cout).
    pub weight: Vec<f32>,
    /// `weight` packed once into column panels for the GEMM microkernels (the layout every
    /// kernel table reads); built with `pack_weights(cin, cout, &weight)`.
    pub packed: PackedWeights,
    /// (Cout).
    pub bias: Vec<f32>,
}

impl Linear {
    /// x: (N, Cin) → y: (N, Cout).
    pub fn forward(&self, k: &Kernels, n: usize, x: &[f32], y: &mut [f32]) {
        parallel::pointwise_packed(k, n, x, &self.packed, &self.bias, Clamp::NONE, y);
    }
}
