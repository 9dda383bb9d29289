//! Softmax cross-entropy, optionally with label smoothing (Szegedy et al. 2016), as PyTorch's
//! `F.cross_entropy(logits, y, label_smoothing=ε)` defines it: the target distribution is
//! `(1 − ε)·onehot(y) + ε/K`, the loss is its cross-entropy with `softmax(logits)`, averaged over
//! the batch. Its gradient with respect to the logits is `(softmax − target) / N`.

/// Loss, correct top-1 and top-5 counts of one batch.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct LossStats {
    /// Mean loss over the batch.
    pub loss: f64,
    pub correct: usize,
    pub correct5: usize,
}

/// logits: (N, K), labels: (N) → loss stats; writes `dlogits` (N, K) when given.
/// Computed in f64 after subtracting each row's maximum.
pub fn softmax_cross_entropy(
    logits: &[f32],
    labels: &[u32],
    k: usize,
    smoothing: f32,
    mut dlogits: Option<&mut [f32]>,
) -> LossStats {
    let n = labels.len();
    assert_eq!(logits.len(), n * k, "softmax_cross_entropy: logits len");
    let eps = smoothing as f64;
    let mut out = LossStats::default();
    let mut p = vec![0.0f64; k];
    for (i, (row, &y)) in logits.chunks_exact(k).zip(labels).enumerate() {
        let y = y as usize;
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
        let mut sum = 0.0;
        for (pj, &v) in p.iter_mut().zip(row) {
            *pj = (v as f64 - max).exp();
            sum += *pj;
        }
        let log_sum = sum.ln();
        // -log p_j = log Σ − (l_j − max)
        let nll_y = log_sum - (row[y] as f64 - max);
        let mean_nll = log_sum - row.iter().map(|&v| v as f64 - max).sum::<f64>() / k as f64;
        out.loss += (1.0 - eps) * nll_y + eps * mean_nll;
        let above = row.iter().filter(|&&v| v > row[y]).count();
        if above == 0 {
            out.correct += 1;
        }
        if above < 5 {
            out.correct5 += 1;
        }
        if let Some(d) = dlogits.as_deref_mut() {
            let d = &mut d[i * k..(i + 1) * k];
            for (j, (dj, pj)) in d.iter_mut().zip(&p).enumerate() {
                let target = eps / k as f64 + if j == y { 1.0 - eps } else { 0.0 };
                *dj = ((pj / sum - target) / n as f64) as f32;
            }
        }
    }
    out.loss /= n.max(1) as f64;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uniform_logits_give_log_k_and_gradient_sums_to_zero() {
        let logits = [0.0f32; 8];
        let mut d = [0.0f32; 8];
        let s = softmax_cross_entropy(&logits, &[1, 3], 4, 0.0, Some(&mut d));
        assert!((s.loss - 4f64.ln()).abs() < 1e-12);
        // (1/4 − 1)/2 at the label, (1/4)/2 elsewhere.
        assert!((d[1] + 0.375).abs() < 1e-7 && (d[0] - 0.125).abs() < 1e-7);
        assert!(d.iter().sum::<f32>().abs() < 1e-6);
    }

    #[test]
    fn label_smoothing_matches_its_definition() {
        // K = 2, logits (0, ln 3): p = (1/4, 3/4); label 0, ε = 0.2: target (0.9, 0.1).
        let logits = [0.0f32, 3f32.ln()];
        let s = softmax_cross_entropy(&logits, &[0], 2, 0.2, None);
        let want = -(0.9 * 0.25f64.ln() + 0.1 * 0.75f64.ln());
        assert!((s.loss - want).abs() < 1e-6, "{} vs {want}", s.loss);
        assert_eq!((s.correct, s.correct5), (0, 1));
    }
}
