//! x86-64 kernels. Nothing here is public: `register` installs safe wrappers into a
//! [`Kernels`] table only after the CPU reported the features they need.
//!
//! Layout: `simd.rs` is the vector-operation trait; `dwconv3x3.rs`, `dwconv3x3_backward.rs`,
//! `conv3x3.rs`, `elementwise.rs` and `batch_norm.rs` are kernel bodies written once against
//! it; `avx2.rs` and `avx512.rs` implement the trait and hold the `#[target_feature]` entry
//! points and safe wrappers. `q8_avx2.rs` and `q8_avx512.rs` are the quantized datatype's
//! kernels (the `Kernels::q8` entries).

mod avx2;
mod avx512;
mod batch_norm;
mod conv3x3;
mod dwconv3x3;
mod dwconv3x3_backward;
mod elementwise;
mod q8_avx2;
mod q8_avx512;
mod sgemm_packed;
mod simd;

use crate::dispatch::{Isa, Kernels};

pub(crate) fn has_avx2_fma() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

pub(crate) fn has_avx512() -> bool {
    has_avx2_fma() && is_x86_feature_detected!("avx512f")
}

/// What the quantized AVX-512 kernels need beyond [`has_avx512`]: byte/word ops, and VNNI
/// for the GEMM.
fn q8_avx512_level() -> Option<bool> {
    is_x86_feature_detected!("avx512bw").then(|| is_x86_feature_detected!("avx512vnni"))
}

/// Overwrites the entries of `k` that `isa` has optimized versions of. AVX-512 installs the
/// AVX2 table first, so any entry it lacks falls back to AVX2 rather than to the reference.
/// Does nothing unless the CPU runs `isa` (the check is repeated here so that no caller can
/// install code the CPU cannot execute).
pub(crate) fn register(k: &mut Kernels, isa: Isa) {
    match isa {
        Isa::Reference => {}
        Isa::Avx2 => {
            if has_avx2_fma() {
                avx2::install(k);
                q8_avx2::install(&mut k.q8, true);
            }
        }
        Isa::Avx512 => {
            if has_avx512() {
                avx2::install(k);
                q8_avx2::install(&mut k.q8, true);
                avx512::install(k);
                if let Some(vnni) = q8_avx512_level() {
                    q8_avx512::install(&mut k.q8, vnni);
                }
            }
        }
    }
}

/// Whether the AVX2 table's int8 GEMM runs on AVX-VNNI on this CPU (then
/// [`avx2_without_avx_vnni`] gives the table without it, for tests).
pub(crate) fn has_avx_vnni() -> bool {
    has_avx2_fma() && is_x86_feature_detected!("avxvnni")
}

/// The AVX2 table's int8 entries without AVX-VNNI.
pub(crate) fn avx2_without_avx_vnni(k: &mut Kernels) {
    if has_avx2_fma() {
        q8_avx2::install(&mut k.q8, false);
    }
}
