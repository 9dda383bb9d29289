//! Fully connected classifier (paper Table 1, "FC / s1"): logits = x · W + b.

use mobilenet_kernels::{parallel, Clamp, Kernels};

#[derive(Debug, Clone)]
pub struct Linear {
    pub cin: usize,
    pub cout: usize,
    /// (Cin, Cout).
    pub weight: Vec<f32>,
    /// (Cout).
    pub bias: Vec<f32>,
}

impl Linear {
    /// x: (N, Cin) → y: (N, Cout).
    pub fn forward(&self, k: &Kernels, n: usize, x: &[f32], y: &mut [f32]) {
        parallel::pointwise(
            k,
            n,
            self.cout,
            self.cin,
            x,
            &self.weight,
            &self.bias,
            Clamp::NONE,
            y,
        );
    }
}
