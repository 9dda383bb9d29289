//! Reference kernels: scalar loop nests written to be read. They define what every optimized
//! kernel must compute, serve as the fallback on any CPU, and are the baseline of every test and
//! bench. No `unsafe` here.
//!
//! Legend used in every file: N = batch, H, W = input height/width, OH, OW = output height/width,
//! C = channels, K = 3 (kernel size).

pub mod batch_norm;
pub mod conv3x3;
pub mod dwconv3x3;
pub mod elementwise;
pub mod matmul;
pub mod pointwise;
pub mod pool;
pub mod q8;
