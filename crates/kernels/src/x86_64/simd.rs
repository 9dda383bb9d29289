//! The few vector operations the x86-64 kernel bodies use, as a trait with one zero-sized
//! implementation per ISA (`avx2::Avx2`, `avx512::Avx512`). The generic bodies in
//! `dwconv3x3.rs`, `conv3x3.rs` and `elementwise.rs` are written once against this trait and
//! instantiated inside each ISA's `#[target_feature]` function, where everything inlines
//! (the matrixmultiply `kernel_target_fma` → `kernel_x86_avx::<FusedMulAdd>` pattern).
//!
//! Every method is `unsafe`: it executes instructions of its ISA, so it may only run inside a
//! function compiled with (and reached after detecting) that ISA's features. Pointer methods
//! additionally require the addressed lanes to be valid; masked methods touch only the lanes
//! the mask enables (AVX `vmaskmovps` and AVX-512 masked moves suppress faults on the others).

use crate::geometry::Clamp;

pub(super) trait Simd {
    /// f32 lanes of `V`.
    const LANES: usize;
    /// One vector register of f32.
    type V: Copy;
    /// Which lanes of a partial vector are live (for channel tails).
    type M: Copy;

    unsafe fn splat(v: f32) -> Self::V;
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    /// Mask of the first `n` lanes, `0 <= n <= LANES`.
    unsafe fn mask(n: usize) -> Self::M;
    /// Loads the lanes `m` enables; the others read as zero and are not accessed.
    unsafe fn load_m(p: *const f32, m: Self::M) -> Self::V;
    /// Stores the lanes `m` enables; memory under the other lanes is not accessed.
    unsafe fn store_m(p: *mut f32, m: Self::M, v: Self::V);
    /// `a · b + c`, one rounding.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    /// Horizontal-free broadcast of one element from memory.
    unsafe fn bcast(p: *const f32) -> Self::V;
    /// `v` in the lanes where `lo < a < hi` (ordered: a NaN `a` fails), zero elsewhere: the
    /// clamp's derivative applied to a gradient, as `reference::batch_norm::passes`.
    unsafe fn gate(v: Self::V, a: Self::V, lo: Self::V, hi: Self::V) -> Self::V;
}

/// The clamp bounds as vectors, built once per call.
pub(super) struct VClamp<S: Simd> {
    lo: S::V,
    hi: S::V,
}

impl<S: Simd> Clone for VClamp<S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: Simd> Copy for VClamp<S> {}

impl<S: Simd> VClamp<S> {
    #[inline(always)]
    pub(super) unsafe fn new(c: Clamp) -> Self {
        // SAFETY: the caller runs with S's features (method contract).
        unsafe {
            VClamp {
                lo: S::splat(c.lo),
                hi: S::splat(c.hi),
            }
        }
    }

    /// `min(max(v, lo), hi)`, the same order as [`Clamp::apply`].
    #[inline(always)]
    pub(super) unsafe fn apply(self, v: S::V) -> S::V {
        // SAFETY: the caller runs with S's features (method contract).
        unsafe { S::min(S::max(v, self.lo), self.hi) }
    }
}
