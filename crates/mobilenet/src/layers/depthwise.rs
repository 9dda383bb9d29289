//! Depthwise 3×3 convolution + folded BatchNorm + activation (paper §3.1, the first half of a
//! depthwise-separable block).

use mobilenet_kernels::{parallel, Clamp, DwArgs, Kernels};

#[derive(Debug, Clone)]
pub struct DepthwiseConv3x3 {
    pub args: DwArgs,
    /// (3, 3, C), BatchNorm folded in.
    pub weight: Vec<f32>,
    /// (C).
    pub bias: Vec<f32>,
    pub clamp: Clamp,
}

impl DepthwiseConv3x3 {
    /// x: (N, H, W, C) → y: (N, OH, OW, C).
    pub fn forward(&self, k: &Kernels, n: usize, x: &[f32], y: &mut [f32]) {
        parallel::dwconv3x3(k, &self.args, n, x, &self.weight, &self.bias, self.clamp, y);
    }
}
