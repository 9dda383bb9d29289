//! Pointwise 1×1 convolution + folded BatchNorm + activation (the second half of a
//! depthwise-separable block). In NHWC it is one GEMM `(N·H·W, Cin) · (Cin, Cout)`; the
//! weights are packed once, at construction, into the column panels the GEMM kernels read.

use mobilenet_kernels::{pack_weights, parallel, Clamp, Kernels, PackedWeights};

#[derive(Debug, Clone)]
pub struct Pointwise {
    /// The (Cin, Cout) weights, BatchNorm folded in, packed into column panels.
    pub packed: PackedWeights,
    /// (Cout).
    pub bias: Vec<f32>,
    pub clamp: Clamp,
}

impl Pointwise {
    /// `weight`: (Cin, Cout), `bias`: (Cout).
    pub fn new(cin: usize, cout: usize, weight: &[f32], bias: Vec<f32>, clamp: Clamp) -> Self {
        assert_eq!(bias.len(), cout, "Pointwise::new: bias len");
        Pointwise {
            packed: pack_weights(cin, cout, weight),
            bias,
            clamp,
        }
    }

    pub fn cin(&self) -> usize {
        self.packed.k
    }

    pub fn cout(&self) -> usize {
        self.packed.n
    }

    /// x: (M, Cin) → y: (M, Cout), where M = N·H·W.
    pub fn forward(&self, k: &Kernels, m: usize, x: &[f32], y: &mut [f32]) {
        parallel::pointwise_packed(k, m, x, &self.packed, &self.bias, self.clamp, y);
    }
}
