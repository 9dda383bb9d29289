//! Naive matrix product: the spec for `gemm.rs`, used only in tests and benches.

/// a: (M, K), b: (K, N), c: (M, N), all row-major. `c = a · b` (or `c += a · b` if `accumulate`).
pub fn matmul(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32], accumulate: bool) {
    assert_eq!(a.len(), m * k, "matmul: a len");
    assert_eq!(b.len(), k * n, "matmul: b len");
    assert_eq!(c.len(), m * n, "matmul: c len");
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f64;
            for p in 0..k {
                acc += a[i * k + p] as f64 * b[p * n + j] as f64;
            }
            let out = &mut c[i * n + j];
            *out = if accumulate {
                *out + acc as f32
            } else {
                acc as f32
            };
        }
    }
}
