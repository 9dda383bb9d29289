//! AVX2 + FMA kernels (8 lanes). Each entry is a safe wrapper around a private
//! `#[target_feature(enable = "avx2,fma")]` function that instantiates one generic body
//! with [`Avx2`]. The wrappers are installed only by [`super::register`] after
//! `has_avx2_fma()` returned true.

use std::arch::x86_64::*;
use std::ops::Range;

use super::simd::Simd;
use super::{batch_norm as bn, dwconv3x3_backward as dwb};
use super::{conv3x3 as conv, dwconv3x3 as dw, elementwise as ew, sgemm_packed as gemm};
use crate::dispatch::Kernels;
use crate::gemm::MatMut;
use crate::geometry::{Clamp, ConvArgs, DwArgs};
use crate::packed::PackedWeights;
use crate::reference::batch_norm::{BnBackward, BnStats};

/// Output pixels per conv3x3 tile: 6 × 2 ymm accumulators (+ 2 weights + 1 broadcast of 16).
const CONV_TILE: usize = 6;

#[derive(Clone, Copy)]
pub(super) struct Avx2;

impl Simd for Avx2 {
    const LANES: usize = 8;
    type V = __m256;
    /// Lane i enabled when its sign bit is set (the `vmaskmovps` convention).
    type M = __m256i;

    #[inline(always)]
    unsafe fn splat(v: f32) -> __m256 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm256_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        // SAFETY: caller guarantees 8 readable f32 at p.
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        // SAFETY: caller guarantees 8 writable f32 at p.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn mask(n: usize) -> __m256i {
        debug_assert!(n <= 8);
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe {
            _mm256_cmpgt_epi32(
                _mm256_set1_epi32(n as i32),
                _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
            )
        }
    }
    #[inline(always)]
    unsafe fn load_m(p: *const f32, m: __m256i) -> __m256 {
        // SAFETY: caller guarantees the enabled lanes are readable; vmaskmovps does not fault
        // on masked lanes.
        unsafe { _mm256_maskload_ps(p, m) }
    }
    #[inline(always)]
    unsafe fn store_m(p: *mut f32, m: __m256i, v: __m256) {
        // SAFETY: caller guarantees the enabled lanes are writable; vmaskmovps does not fault
        // on masked lanes.
        unsafe { _mm256_maskstore_ps(p, m, v) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m256, b: __m256) -> __m256 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn bcast(p: *const f32) -> __m256 {
        // SAFETY: caller guarantees one readable f32 at p.
        unsafe { _mm256_broadcast_ss(&*p) }
    }
    #[inline(always)]
    unsafe fn gate(v: __m256, a: __m256, lo: __m256, hi: __m256) -> __m256 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe {
            let m = _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_GT_OQ>(a, lo),
                _mm256_cmp_ps::<_CMP_LT_OQ>(a, hi),
            );
            _mm256_and_ps(v, m)
        }
    }
}

/// Installs the AVX2 entries. Only called after `has_avx2_fma()`.
pub(super) fn install(k: &mut Kernels) {
    k.dwconv3x3 = dwconv3x3;
    k.conv3x3 = conv3x3;
    k.bias_clamp = bias_clamp;
    k.global_avg_pool = global_avg_pool;
    k.pointwise_packed = pointwise_packed;
    k.dwconv3x3_backward_input = dwconv3x3_backward_input;
    k.dwconv3x3_backward_filter = dwconv3x3_backward_filter;
    k.bn_sums = bn_sums;
    k.scale_shift_clamp = scale_shift_clamp;
    k.bn_act_backward_sums = bn_act_backward_sums;
    k.bn_act_backward_apply = bn_act_backward_apply;
}

fn dwconv3x3(
    args: &DwArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
) {
    // SAFETY: installed only by register() after detecting avx2 and fma.
    unsafe { dwconv3x3_avx2(args, x, w, b, clamp, rows, y) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dwconv3x3_avx2(
    args: &DwArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
) {
    // SAFETY: this function is compiled with the features `Avx2` needs.
    unsafe { dw::forward::<Avx2>(args, x, w, b, clamp, rows, y) }
}

fn conv3x3(
    args: &ConvArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
) {
    // SAFETY: installed only by register() after detecting avx2 and fma.
    unsafe { conv3x3_avx2(args, x, w, b, clamp, rows, y) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn conv3x3_avx2(
    args: &ConvArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
) {
    // SAFETY: this function is compiled with the features `Avx2` needs.
    unsafe { conv::forward::<Avx2, CONV_TILE>(args, x, w, b, clamp, rows, y) }
}

fn bias_clamp(y: &mut [f32], b: &[f32], clamp: Clamp) {
    // SAFETY: installed only by register() after detecting avx2 and fma.
    unsafe { bias_clamp_avx2(y, b, clamp) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn bias_clamp_avx2(y: &mut [f32], b: &[f32], clamp: Clamp) {
    // SAFETY: this function is compiled with the features `Avx2` needs.
    unsafe { ew::bias_clamp::<Avx2>(y, b, clamp) }
}

fn global_avg_pool(x: &[f32], c: usize, y: &mut [f32]) {
    // SAFETY: installed only by register() after detecting avx2 and fma.
    unsafe { global_avg_pool_avx2(x, c, y) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn global_avg_pool_avx2(x: &[f32], c: usize, y: &mut [f32]) {
    // SAFETY: this function is compiled with the features `Avx2` needs.
    unsafe { ew::global_avg_pool::<Avx2>(x, c, y) }
}

fn pointwise_packed(
    x: &[f32],
    w: &PackedWeights,
    b: &[f32],
    clamp: Clamp,
    panels: Range<usize>,
    y: MatMut<'_>,
) {
    // SAFETY: installed only by register() after detecting avx2 + fma.
    unsafe { pointwise_packed_avx2(x, w, b, clamp, panels, y) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn pointwise_packed_avx2(
    x: &[f32],
    w: &PackedWeights,
    b: &[f32],
    clamp: Clamp,
    panels: Range<usize>,
    y: MatMut<'_>,
) {
    // SAFETY: compiled with the features `Avx2` needs; 6 ≤ 14 rows; 2·8 divides NR.
    unsafe { gemm::forward::<Avx2, 6, 2, 6, 0>(x, w, b, clamp, panels, y) }
}

fn dwconv3x3_backward_input(
    args: &DwArgs,
    dy: &[f32],
    w: &[f32],
    rows: Range<usize>,
    dx: &mut [f32],
) {
    // SAFETY: installed only by register() after detecting avx2 and fma.
    unsafe { dwconv3x3_backward_input_avx2(args, dy, w, rows, dx) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dwconv3x3_backward_input_avx2(
    args: &DwArgs,
    dy: &[f32],
    w: &[f32],
    rows: Range<usize>,
    dx: &mut [f32],
) {
    // SAFETY: this function is compiled with the features `Avx2` needs.
    unsafe { dwb::backward_input::<Avx2>(args, dy, w, rows, dx) }
}

fn dwconv3x3_backward_filter(
    args: &DwArgs,
    x: &[f32],
    dy: &[f32],
    rows: Range<usize>,
    dw: &mut [f32],
) {
    // SAFETY: installed only by register() after detecting avx2 and fma.
    unsafe { dwconv3x3_backward_filter_avx2(args, x, dy, rows, dw) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn dwconv3x3_backward_filter_avx2(
    args: &DwArgs,
    x: &[f32],
    dy: &[f32],
    rows: Range<usize>,
    dw: &mut [f32],
) {
    // SAFETY: this function is compiled with the features `Avx2` needs.
    unsafe { dwb::backward_filter::<Avx2>(args, x, dy, rows, dw) }
}

fn bn_sums(x: &[f32], shift: &[f32], sum: &mut [f64], sumsq: &mut [f64]) {
    // SAFETY: installed only by register() after detecting avx2 and fma.
    unsafe { bn_sums_avx2(x, shift, sum, sumsq) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn bn_sums_avx2(x: &[f32], shift: &[f32], sum: &mut [f64], sumsq: &mut [f64]) {
    // SAFETY: this function is compiled with the features `Avx2` needs.
    unsafe { bn::sums::<Avx2>(x, shift, sum, sumsq) }
}

fn scale_shift_clamp(x: &[f32], scale: &[f32], shift: &[f32], clamp: Clamp, y: &mut [f32]) {
    // SAFETY: installed only by register() after detecting avx2 and fma.
    unsafe { scale_shift_clamp_avx2(x, scale, shift, clamp, y) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn scale_shift_clamp_avx2(
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    clamp: Clamp,
    y: &mut [f32],
) {
    // SAFETY: this function is compiled with the features `Avx2` needs.
    unsafe { bn::scale_shift_clamp::<Avx2>(x, scale, shift, clamp, y) }
}

fn bn_act_backward_sums(
    da: &[f32],
    z: &[f32],
    stats: BnStats<'_>,
    clamp: Clamp,
    dbeta: &mut [f64],
    dgamma: &mut [f64],
) {
    // SAFETY: installed only by register() after detecting avx2 and fma.
    unsafe { bn_act_backward_sums_avx2(da, z, stats, clamp, dbeta, dgamma) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn bn_act_backward_sums_avx2(
    da: &[f32],
    z: &[f32],
    stats: BnStats<'_>,
    clamp: Clamp,
    dbeta: &mut [f64],
    dgamma: &mut [f64],
) {
    // SAFETY: this function is compiled with the features `Avx2` needs.
    unsafe { bn::act_backward_sums::<Avx2>(da, z, stats, clamp, dbeta, dgamma) }
}

fn bn_act_backward_apply(
    d: &mut [f32],
    z: &[f32],
    stats: BnStats<'_>,
    coef: BnBackward<'_>,
    clamp: Clamp,
) {
    // SAFETY: installed only by register() after detecting avx2 and fma.
    unsafe { bn_act_backward_apply_avx2(d, z, stats, coef, clamp) }
}

#[target_feature(enable = "avx2,fma")]
unsafe fn bn_act_backward_apply_avx2(
    d: &mut [f32],
    z: &[f32],
    stats: BnStats<'_>,
    coef: BnBackward<'_>,
    clamp: Clamp,
) {
    // SAFETY: this function is compiled with the features `Avx2` needs.
    unsafe { bn::act_backward_apply::<Avx2>(d, z, stats, coef, clamp) }
}
