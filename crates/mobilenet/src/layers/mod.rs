//! Layers as plain structs: each owns its (inference-form) weights and geometry and calls the
//! kernels crate; it does no arithmetic of its own beyond bookkeeping.
//!
//! Conventions shared by every layer:
//! - activations are NHWC slices, `x` in and `y` out, batch `n` passed explicitly;
//! - weights use our layouts (HWIO for dense 3×3, (3, 3, C) depthwise, (Cin, Cout) pointwise/FC);
//! - BatchNorm is folded into the preceding convolution's weights and bias at load time
//!   (`batch_norm::fold`), and the activation runs as a clamp fused into the kernel.
//!
//! Training will add a `backward` beside each `forward` and a cache type per layer.

pub mod batch_norm;
pub mod conv3x3;
pub mod depthwise;
pub mod linear;
pub mod pointwise;
pub mod pool;
pub mod softmax;

pub use conv3x3::Conv3x3;
pub use depthwise::DepthwiseConv3x3;
pub use linear::Linear;
pub use pointwise::Pointwise;
