//! Pointwise 1×1 convolution + folded BatchNorm + activation (the second half of a
//! depthwise-separable block). In NHWC it is one GEMM `(N·H·W, Cin) · (Cin, Cout)`.

use mobilenet_kernels::{parallel, Clamp, Kernels};

#[derive(Debug, Clone)]
pub struct Pointwise {
    pub cin: usize,
    pub cout: usize,
    /// (Cin, Cout), BatchNorm folded in.
    pub weight: Vec<f32>,
    /// (Cout).
    pub bias: Vec<f32>,
    pub clamp: Clamp,
}

impl Pointwise {
    /// x: (M, Cin) → y: (M, Cout), where M = N·H·W.
    pub fn forward(&self, k: &Kernels, m: usize, x: &[f32], y: &mut [f32]) {
        parallel::pointwise(
            k,
            m,
            self.cout,
            self.cin,
            x,
            &self.weight,
            &self.bias,
            self.clamp,
            y,
        );
    }
}
