//! AVX-512F kernels (16 lanes). Each entry is a safe wrapper around a private
//! `#[target_feature(enable = "avx512f,avx2,fma")]` function that instantiates one generic body
//! with [`Avx512`]. The wrappers are installed only by [`super::register`] after
//! `has_avx512()` returned true.

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

/// Output pixels per conv3x3 tile: 8 × 2 zmm accumulators (+ 2 weights + 1 broadcast of 32).
const CONV_TILE: usize = 8;

#[derive(Clone, Copy)]
pub(super) struct Avx512;

impl Simd for Avx512 {
    const LANES: usize = 16;
    type V = __m512;
    type M = __mmask16;

    #[inline(always)]
    unsafe fn splat(v: f32) -> __m512 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        // SAFETY: caller guarantees 16 readable f32 at p.
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        // SAFETY: caller guarantees 16 writable f32 at p.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn mask(n: usize) -> __mmask16 {
        debug_assert!(n <= 16);
        ((1u32 << n) - 1) as __mmask16
    }
    #[inline(always)]
    unsafe fn load_m(p: *const f32, m: __mmask16) -> __m512 {
        // SAFETY: caller guarantees the enabled lanes are readable; masked lanes do not fault.
        unsafe { _mm512_maskz_loadu_ps(m, p) }
    }
    #[inline(always)]
    unsafe fn store_m(p: *mut f32, m: __mmask16, v: __m512) {
        // SAFETY: caller guarantees the enabled lanes are writable; masked lanes do not fault.
        unsafe { _mm512_mask_storeu_ps(p, m, v) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn bcast(p: *const f32) -> __m512 {
        // SAFETY: caller guarantees one readable f32 at p.
        unsafe { _mm512_set1_ps(*p) }
    }
    #[inline(always)]
    unsafe fn gate(v: __m512, a: __m512, lo: __m512, hi: __m512) -> __m512 {
        // SAFETY: the caller runs with this ISA's features (`Simd` contract).
        unsafe {
            let m =
                _mm512_cmp_ps_mask::<_CMP_GT_OQ>(a, lo) & _mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, hi);
            _mm512_maskz_mov_ps(m, v)
        }
    }
}

/// Installs the AVX-512 entries. Only called after `has_avx512()`.
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
    // SAFETY: installed only by register() after detecting avx512f (+avx2, fma).
    unsafe { dwconv3x3_avx512(args, x, w, b, clamp, rows, y) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn dwconv3x3_avx512(
    args: &DwArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
) {
    // SAFETY: this function is compiled with the features `Avx512` needs.
    unsafe { dw::forward::<Avx512>(args, x, w, b, clamp, rows, y) }
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
    // SAFETY: installed only by register() after detecting avx512f (+avx2, fma).
    unsafe { conv3x3_avx512(args, x, w, b, clamp, rows, y) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn conv3x3_avx512(
    args: &ConvArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
) {
    // SAFETY: this function is compiled with the features `Avx512` needs.
    unsafe { conv::forward::<Avx512, CONV_TILE>(args, x, w, b, clamp, rows, y) }
}

fn bias_clamp(y: &mut [f32], b: &[f32], clamp: Clamp) {
    // SAFETY: installed only by register() after detecting avx512f (+avx2, fma).
    unsafe { bias_clamp_avx512(y, b, clamp) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn bias_clamp_avx512(y: &mut [f32], b: &[f32], clamp: Clamp) {
    // SAFETY: this function is compiled with the features `Avx512` needs.
    unsafe { ew::bias_clamp::<Avx512>(y, b, clamp) }
}

fn global_avg_pool(x: &[f32], c: usize, y: &mut [f32]) {
    // SAFETY: installed only by register() after detecting avx512f (+avx2, fma).
    unsafe { global_avg_pool_avx512(x, c, y) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn global_avg_pool_avx512(x: &[f32], c: usize, y: &mut [f32]) {
    // SAFETY: this function is compiled with the features `Avx512` needs.
    unsafe { ew::global_avg_pool::<Avx512>(x, c, y) }
}

fn pointwise_packed(
    x: &[f32],
    w: &PackedWeights,
    b: &[f32],
    clamp: Clamp,
    panels: Range<usize>,
    y: MatMut<'_>,
) {
    // SAFETY: installed only by register() after detecting avx512f (+avx2, fma).
    unsafe { pointwise_packed_avx512(x, w, b, clamp, panels, y) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn pointwise_packed_avx512(
    x: &[f32],
    w: &PackedWeights,
    b: &[f32],
    clamp: Clamp,
    panels: Range<usize>,
    y: MatMut<'_>,
) {
    // SAFETY: compiled with the features `Avx512` needs; 14 ≤ 14 rows; 2·16 = NR.
    unsafe { gemm::forward::<Avx512, 14, 2, 6, 4>(x, w, b, clamp, panels, y) }
}

fn dwconv3x3_backward_input(
    args: &DwArgs,
    dy: &[f32],
    w: &[f32],
    rows: Range<usize>,
    dx: &mut [f32],
) {
    // SAFETY: installed only by register() after detecting avx512f (+avx2, fma).
    unsafe { dwconv3x3_backward_input_avx512(args, dy, w, rows, dx) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn dwconv3x3_backward_input_avx512(
    args: &DwArgs,
    dy: &[f32],
    w: &[f32],
    rows: Range<usize>,
    dx: &mut [f32],
) {
    // SAFETY: this function is compiled with the features `Avx512` needs.
    unsafe { dwb::backward_input::<Avx512>(args, dy, w, rows, dx) }
}

fn dwconv3x3_backward_filter(
    args: &DwArgs,
    x: &[f32],
    dy: &[f32],
    rows: Range<usize>,
    dw: &mut [f32],
) {
    // SAFETY: installed only by register() after detecting avx512f (+avx2, fma).
    unsafe { dwconv3x3_backward_filter_avx512(args, x, dy, rows, dw) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn dwconv3x3_backward_filter_avx512(
    args: &DwArgs,
    x: &[f32],
    dy: &[f32],
    rows: Range<usize>,
    dw: &mut [f32],
) {
    // SAFETY: this function is compiled with the features `Avx512` needs.
    unsafe { dwb::backward_filter::<Avx512>(args, x, dy, rows, dw) }
}

fn bn_sums(x: &[f32], shift: &[f32], sum: &mut [f64], sumsq: &mut [f64]) {
    // SAFETY: installed only by register() after detecting avx512f (+avx2, fma).
    unsafe { bn_sums_avx512(x, shift, sum, sumsq) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn bn_sums_avx512(x: &[f32], shift: &[f32], sum: &mut [f64], sumsq: &mut [f64]) {
    // SAFETY: this function is compiled with the features `Avx512` needs.
    unsafe { bn::sums::<Avx512>(x, shift, sum, sumsq) }
}

fn scale_shift_clamp(x: &[f32], scale: &[f32], shift: &[f32], clamp: Clamp, y: &mut [f32]) {
    // SAFETY: installed only by register() after detecting avx512f (+avx2, fma).
    unsafe { scale_shift_clamp_avx512(x, scale, shift, clamp, y) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn scale_shift_clamp_avx512(
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    clamp: Clamp,
    y: &mut [f32],
) {
    // SAFETY: this function is compiled with the features `Avx512` needs.
    unsafe { bn::scale_shift_clamp::<Avx512>(x, scale, shift, clamp, y) }
}

fn bn_act_backward_sums(
    da: &[f32],
    z: &[f32],
    stats: BnStats<'_>,
    clamp: Clamp,
    dbeta: &mut [f64],
    dgamma: &mut [f64],
) {
    // SAFETY: installed only by register() after detecting avx512f (+avx2, fma).
    unsafe { bn_act_backward_sums_avx512(da, z, stats, clamp, dbeta, dgamma) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn bn_act_backward_sums_avx512(
    da: &[f32],
    z: &[f32],
    stats: BnStats<'_>,
    clamp: Clamp,
    dbeta: &mut [f64],
    dgamma: &mut [f64],
) {
    // SAFETY: this function is compiled with the features `Avx512` needs.
    unsafe { bn::act_backward_sums::<Avx512>(da, z, stats, clamp, dbeta, dgamma) }
}

fn bn_act_backward_apply(
    d: &mut [f32],
    z: &[f32],
    stats: BnStats<'_>,
    coef: BnBackward<'_>,
    clamp: Clamp,
) {
    // SAFETY: installed only by register() after detecting avx512f (+avx2, fma).
    unsafe { bn_act_backward_apply_avx512(d, z, stats, coef, clamp) }
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn bn_act_backward_apply_avx512(
    d: &mut [f32],
    z: &[f32],
    stats: BnStats<'_>,
    coef: BnBackward<'_>,
    clamp: Clamp,
) {
    // SAFETY: this function is compiled with the features `Avx512` needs.
    unsafe { bn::act_backward_apply::<Avx512>(d, z, stats, coef, clamp) }
}
