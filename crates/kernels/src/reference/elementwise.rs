//! Elementwise epilogues.

use crate::geometry::Clamp;

/// y: (M, N) in place, b: (N). `y[i, j] = clamp(y[i, j] + b[j])`.
pub fn bias_clamp(y: &mut [f32], b: &[f32], clamp: Clamp) {
    assert!(
        !b.is_empty() && y.len().is_multiple_of(b.len()),
        "bias_clamp: y len not a multiple of b len"
    );
    for row in y.chunks_exact_mut(b.len()) {
        for (v, &bias) in row.iter_mut().zip(b) {
            *v = clamp.apply(*v + bias);
        }
    }
}
