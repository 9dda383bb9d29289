//! Global average pooling (paper Table 1, "Avg Pool 7×7" at 224 input).

/// x: (HW, C), y: (C). `y[c] = mean_p x[p, c]`.
pub fn global_avg_pool(x: &[f32], c: usize, y: &mut [f32]) {
    assert!(
        c > 0 && x.len().is_multiple_of(c) && !x.is_empty(),
        "global_avg_pool: x len"
    );
    assert_eq!(y.len(), c, "global_avg_pool: y len");
    let hw = x.len() / c;
    y.fill(0.0);
    for px in x.chunks_exact(c) {
        for (acc, &v) in y.iter_mut().zip(px) {
            *acc += v;
        }
    }
    let inv = 1.0 / hw as f32;
    for v in y.iter_mut() {
        *v *= inv;
    }
}
