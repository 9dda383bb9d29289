//! Pointwise 1×1 convolution + folded BatchNorm + activation (the second half of a
//! depthwise-separable block). In NHWC it is one GEMM `(N·H·W, Cin) · (Cin, Cout)`.

use mobilenet_kernels::{parallel, Clamp, Kernels, PackedWeights};

#[derive(Debug, Clone)]
pub struct Pointwise {
    pub cin: usize,
    pub cout: usize,
    /// (Cin, Cout), BatchNorm folded in.
    pub weight: Vec<f32>,
    /// `weight` packed once into column panels for the GEMM microkernels (the layout every
    /// kernel table reads); built with `pack_weights(cin, cout, &weight)`.
    pub packed: PackedWeights,
    /// (Cout).
    pub bias: Vec<f32>,
    pub clamp: Clamp,
}

impl Pointwise {
    /// x: (M, Cin) → y: (M, Cout), where M = N·H·W.
    pub fn forward(&self, k: &Kernels, m: usize, x: &[f32], y: &mut [f32]) {
        parallel::pointwise_packed(k, m, x, &self.packed, &self.bias, self.clamp, y);
    }
}
