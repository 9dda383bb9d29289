//! MobileNet v1 compute kernels.
//!
//! Every function here takes `f32` slices plus a small `Copy` args struct and returns nothing:
//! the crate knows no tensors, layers or models. Activations are NHWC; one image is `(H, W, C)`
//! in row-major order. Shape preconditions are `assert!`ed (a violated one is a bug in the caller).
//!
//! Layout of the crate (see `docs/kernels.md` for the naming grammar):
//! - [`reference`]: plain scalar loop nests. They are the spec, the fallback and the baseline
//!   of every test and bench.
//! - `x86_64`: AVX2+FMA and AVX-512 versions, installed into the [`Kernels`] table only after
//!   the CPU reports the features.
//! - [`gemm`]: the one wrapper around the GEMM crate (pointwise convolutions, fully connected).
//! - [`packed`]: pointwise weights packed once into column panels for our own GEMM
//!   microkernels (`Kernels::pointwise_packed`).
//! - [`quant`], [`qpacked`], [`qdepthwise`], [`qim2col`]: the quantized datatype (uint8
//!   activations, int8 weights): TFLite's requantization arithmetic, the VNNI weight packing,
//!   the prepared depthwise layer and the stem's fast im2col; its kernels are the
//!   table's `q8` entries (`reference/q8.rs`, `x86_64/q8_avx512.rs`).
//! - [`cpu`]: cache sizes, for choices that depend on them.
//! - [`parallel`]: splits whole-layer work over the current rayon pool and calls the table.

pub mod cpu;
pub mod dispatch;
pub mod gemm;
pub mod geometry;
pub mod packed;
pub mod parallel;
pub mod qdepthwise;
pub mod qim2col;
pub mod qpacked;
pub mod quant;
pub mod reference;
#[cfg(feature = "testing")]
pub mod testing;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub use dispatch::{kernels, Isa, Kernels, Q8Kernels};
pub use geometry::{Clamp, Conv2dGeometry, ConvArgs, DwArgs, Padding4};
pub use packed::{pack_weights, PackedWeights};
