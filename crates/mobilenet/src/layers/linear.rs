//! Fully connected classifier (paper Table 1, "FC / s1"): logits = x · W + b. The same GEMM
//! kernels as the pointwise convolutions, without a clamp.

use mobilenet_kernels::Clamp;

use super::Pointwise;

/// A pointwise layer over N rows of pooled features, with no activation.
#[derive(Debug, Clone)]
pub struct Linear(pub Pointwise);

impl Linear {
    /// `weight`: (Cin, Cout), `bias`: (Cout).
    pub fn new(cin: usize, cout: usize, weight: &[f32], bias: Vec<f32>) -> Self {
        Linear(Pointwise::new(cin, cout, weight, bias, Clamp::NONE))
    }

    pub fn cin(&self) -> usize {
        self.0.cin()
    }

    pub fn cout(&self) -> usize {
        self.0.cout()
    }

    /// x: (N, Cin) → y: (N, Cout).
    pub fn forward(&self, k: &mobilenet_kernels::Kernels, n: usize, x: &[f32], y: &mut [f32]) {
        self.0.forward(k, n, x, y);
    }
}
