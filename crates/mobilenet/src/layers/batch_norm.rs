//! BatchNorm (Ioffe & Szegedy 2015) in inference form, folded into the convolution before it:
//! `bn(conv(x, w)) = conv(x, w·s) + (β − μ·s)` with `s = γ / √(σ² + ε)` per output channel.

/// The four BatchNorm tensors of one layer, each (C).
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNorm<'a> {
    pub gamma: &'a [f32],
    pub beta: &'a [f32],
    pub mean: &'a [f32],
    pub var: &'a [f32],
    pub eps: f32,
}

impl BatchNorm<'_> {
    /// Scales `w` — any layout whose last axis is the output channel, (…, C) — in place, and
    /// returns the folded bias (C).
    pub fn fold(&self, w: &mut [f32]) -> Vec<f32> {
        let c = self.gamma.len();
        assert!(
            w.len().is_multiple_of(c),
            "BatchNorm::fold: weight len {} not a multiple of {c}",
            w.len()
        );
        // Fold in f64 so the folded weights round once.
        let scale: Vec<f64> = (0..c)
            .map(|i| self.gamma[i] as f64 / (self.var[i] as f64 + self.eps as f64).sqrt())
            .collect();
        for row in w.chunks_exact_mut(c) {
            for (v, s) in row.iter_mut().zip(&scale) {
                *v = (*v as f64 * s) as f32;
            }
        }
        (0..c)
            .map(|i| (self.beta[i] as f64 - self.mean[i] as f64 * scale[i]) as f32)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folding_equals_conv_then_bn() {
        // One 1×1 conv with two inputs and two outputs, w: (Cin=2, Cout=2).
        let mut w = vec![1.0, 2.0, 3.0, 4.0];
        let x = [0.5f32, -1.0];
        let bn = BatchNorm {
            gamma: &[2.0, 0.5],
            beta: &[0.1, -0.2],
            mean: &[1.0, -1.0],
            var: &[3.0, 0.0],
            eps: 1.0,
        };
        let conv = |w: &[f32], j: usize| x[0] * w[j] + x[1] * w[2 + j];
        let want: Vec<f32> = (0..2)
            .map(|j| {
                (conv(&w, j) - bn.mean[j]) / (bn.var[j] + bn.eps).sqrt() * bn.gamma[j] + bn.beta[j]
            })
            .collect();
        let b = bn.fold(&mut w);
        for j in 0..2 {
            assert!((conv(&w, j) + b[j] - want[j]).abs() < 1e-6);
        }
    }
}
