//! Softmax over the class axis, computed in f64 after subtracting the row maximum so large
//! logits cannot overflow.

/// logits: (N, K) → probabilities (N, K).
pub fn softmax_forward(k: usize, logits: &[f32]) -> Vec<f32> {
    assert!(k > 0 && logits.len().is_multiple_of(k), "softmax: len");
    let mut out = Vec::with_capacity(logits.len());
    for row in logits.chunks_exact(k) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let exps: Vec<f64> = row.iter().map(|&v| (v as f64 - max).exp()).collect();
        let sum: f64 = exps.iter().sum();
        out.extend(exps.iter().map(|e| (e / sum) as f32));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sum_to_one_and_large_logits_do_not_overflow() {
        let p = softmax_forward(3, &[1000.0, 1000.0, 0.0, 1.0, 2.0, 3.0]);
        assert!((p[0] - 0.5).abs() < 1e-6 && p[2] < 1e-30);
        let s: f32 = p[3..].iter().sum();
        assert!((s - 1.0).abs() < 1e-6 && p[5] > p[4]);
    }
}
