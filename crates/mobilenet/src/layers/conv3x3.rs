//! Dense 3×3 convolution + folded BatchNorm + activation: the stem (paper Table 1, "Conv / s2",
//! 3 → 32) and the blocks of the full-convolution variant (Table 4).

use mobilenet_kernels::{parallel, Clamp, ConvArgs, Kernels};

#[derive(Debug, Clone)]
pub struct Conv3x3 {
    pub args: ConvArgs,
    /// (3, 3, Cin, Cout), BatchNorm folded in.
    pub weight: Vec<f32>,
    /// (Cout).
    pub bias: Vec<f32>,
    pub clamp: Clamp,
}

impl Conv3x3 {
    /// x: (N, H, W, Cin) → y: (N, OH, OW, Cout).
    pub fn forward(&self, k: &Kernels, n: usize, x: &[f32], y: &mut [f32]) {
        parallel::conv3x3(k, &self.args, n, x, &self.weight, &self.bias, self.clamp, y);
    }
}
