//! The one wrapper around the GEMM crate (`gemm` 0.19, built with `x86-v4` so its AVX-512
//! kernels are compiled in and picked at run time).
//!
//! The crate computes `dst := alpha·dst + beta·lhs·rhs` (alpha/beta reversed from BLAS) with
//! `(m, n, k)` sizes and `(col_stride, row_stride)` pairs. Everything here is row-major.

use crate::geometry::Clamp;

/// Single-threaded `c = a · b` on row-major matrices: a: (M, K), b: (K, N), c: (M, N).
/// With `accumulate`, `c += a · b`.
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32], accumulate: bool) {
    assert_eq!(a.len(), m * k, "sgemm: a len");
    assert_eq!(b.len(), k * n, "sgemm: b len");
    assert_eq!(c.len(), m * n, "sgemm: c len");
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    // SAFETY: the three slices hold exactly m·k, k·n and m·n elements (asserted above) and the
    // strides below address them row-major, so every access is in bounds; `c` is borrowed
    // mutably and cannot alias `a` or `b`.
    unsafe {
        gemm::gemm(
            /* m = */ m,
            /* n = */ n,
            /* k = */ k,
            /* dst = */ c.as_mut_ptr(),
            /* dst_cs = */ 1,
            /* dst_rs = */ n as isize,
            /* read_dst = */ accumulate,
            /* lhs = */ a.as_ptr(),
            /* lhs_cs = */ 1,
            /* lhs_rs = */ k as isize,
            /* rhs = */ b.as_ptr(),
            /* rhs_cs = */ 1,
            /* rhs_rs = */ n as isize,
            /* alpha = */ 1.0,
            /* beta = */ 1.0,
            /* conj_dst = */ false,
            /* conj_lhs = */ false,
            /* conj_rhs = */ false,
            gemm::Parallelism::None,
        );
    }
}

/// Pointwise (1×1) convolution or fully connected layer on M rows, single-threaded:
/// x: (M, K), w: (K, N), b: (N), y: (M, N). `y = clamp(x · w + b)`.
pub fn pointwise(
    m: usize,
    n: usize,
    k: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    y: &mut [f32],
    bias_clamp: crate::dispatch::BiasClampFn,
) {
    sgemm(m, n, k, x, w, y, false);
    bias_clamp(y, b, clamp);
}
