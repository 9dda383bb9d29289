//! Global average pooling (paper Table 1, "Avg Pool / s1" over the final 7×7 at 224 input; the
//! CIFAR variant's 2×2 pool over its final 2×2 is the same operation).

use mobilenet_kernels::{parallel, Kernels};

/// x: (N, H, W, C) → y: (N, C).
pub fn global_avg_pool_forward(k: &Kernels, n: usize, c: usize, x: &[f32], y: &mut [f32]) {
    parallel::global_avg_pool(k, n, c, x, y);
}
