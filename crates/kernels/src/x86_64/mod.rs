//! x86-64 kernels. Nothing here is public: `register` installs safe wrappers into a
//! [`Kernels`] table only after the CPU reported the features they need.

use crate::dispatch::{Isa, Kernels};

pub(crate) fn has_avx2_fma() -> bool {
    is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma")
}

pub(crate) fn has_avx512() -> bool {
    has_avx2_fma() && is_x86_feature_detected!("avx512f")
}

/// Overwrites the entries of `k` that `isa` has optimized versions of.
pub(crate) fn register(_k: &mut Kernels, _isa: Isa) {}
