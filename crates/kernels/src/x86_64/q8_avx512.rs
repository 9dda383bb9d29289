//! Quantized kernels for AVX-512: the uint8 GEMM on AVX512-VNNI (`vpdpbusd`: 64 u8×i8
//! products into 16 i32 lanes per instruction), and the depthwise 3×3 on 64-channel blocks
//! (the 256-bit tap-pair kernel of `q8_avx2.rs` twice as wide; the channels past the last
//! whole block go to that kernel). Installed by [`super::register`] only after the CPU
//! reported avx512f + avx512bw (+ avx512vnni for the GEMM).
//!
//! The epilogue is TFLite's `MultiplyByQuantizedMultiplier` lane by lane, bit-exact with
//! [`crate::quant::Requant::apply`], on the constants prepared at load
//! ([`QPointwise::wide_lanes`]): a 32×32→64-bit product on the even and the odd lanes
//! (`vpmuldq`), `(p + 2^30) >> 31`, then the rounding right shift, or, where the layer's
//! accumulators allow it, the early rounding of [`crate::quant::Requant::apply_early`]. Four
//! vectors of a row narrow together with two saturating packs and one dword permute.

use std::arch::x86_64::*;
use std::ops::Range;

use super::q8_avx2;
use crate::dispatch::Q8Kernels;
use crate::geometry::DwArgs;
use crate::qdepthwise::{QDepthwise, QDW_PAIRS, QDW_WIDE_BLOCK, QDW_WIDE_LANE_PARAMS};
use crate::qpacked::{QPointwise, QNR};
use crate::quant::{OutputQuant, ROUND_EARLY, ROUND_EARLY_NO_LEFT, ROUND_EXACT};

/// Rows per GEMM tile: 6 rows × 4 panels = 24 accumulators, 4 weight vectors, 1 broadcast.
const MR: usize = 6;
/// Panels (of 16 columns) per GEMM tile.
const NV: usize = 4;
/// Rows per tile of a layer of 8 or 16 columns (one panel): 8 accumulators, whose rows the
/// epilogue narrows four vectors at a time into 64 contiguous output bytes.
const MR_SMALL: usize = 8;

/// The input sums of a tile's rows (the row term of asymmetric weights).
type Sums = [i32; MR_SMALL];

pub(super) fn install(q: &mut Q8Kernels, vnni: bool) {
    q.dwconv3x3 = if vnni {
        dwconv3x3::<true>
    } else {
        dwconv3x3::<false>
    };
    if vnni {
        q.pointwise = pointwise;
        q.byte_pairs = false;
        q.name = "avx512-vnni";
    }
}

/// Per-lane requantization constants of 16 columns (one panel of
/// [`QPointwise::wide_lanes`]).
#[derive(Clone, Copy)]
struct Lanes {
    multiplier: __m512i,
    /// The odd lanes' multipliers moved to the even positions (`vpmuldq` reads those).
    multiplier_odd: __m512i,
    left: __m512i,
    right: __m512i,
    /// `2^right − 1` and half of it (the exact rounding).
    mask: __m512i,
    half: __m512i,
    /// The early rounding's 64-bit sums of the even and the odd lanes, and its sign test's
    /// comparand.
    round_even: __m512i,
    round_odd: __m512i,
    negative_below: __m512i,
}

impl Lanes {
    /// Panel `panel`'s constants: those of the early rounding (`E`) or of the exact one.
    #[inline(always)]
    unsafe fn prepared<const E: u8>(p: &QPointwise, panel: usize) -> Lanes {
        // SAFETY: the caller guarantees AVX-512F and `panel` < P; `wide_lanes` holds 9
        // vectors of 16 per panel.
        unsafe { Lanes::at::<E>(p.wide_lanes.as_ptr().add(panel * 9 * QNR)) }
    }

    /// The lower 8 lanes' constants in both halves (two rows of an 8-column panel).
    #[inline(always)]
    unsafe fn low_twice(self) -> Lanes {
        // SAFETY: AVX-512F is enabled by every caller.
        unsafe {
            let d = |v: __m512i| _mm512_shuffle_i64x2::<0x44>(v, v);
            Lanes {
                multiplier: d(self.multiplier),
                multiplier_odd: d(self.multiplier_odd),
                left: d(self.left),
                right: d(self.right),
                mask: d(self.mask),
                half: d(self.half),
                round_even: d(self.round_even),
                round_odd: d(self.round_odd),
                negative_below: d(self.negative_below),
            }
        }
    }

    /// The nine vectors of 16 lanes at `at` ([`crate::quant::Requant::lanes`], widened).
    #[inline(always)]
    unsafe fn at<const E: u8>(at: *const i32) -> Lanes {
        // SAFETY: the caller guarantees AVX-512F and 9·16 readable i32 at `at`.
        unsafe {
            let v = |k: usize| _mm512_loadu_si512(at.add(QNR * k).cast());
            let zero = _mm512_setzero_si512();
            let (mask, half, round_even, round_odd, negative_below) = if E > 0 {
                (zero, zero, v(6), v(7), v(8))
            } else {
                (v(4), v(5), zero, zero, zero)
            };
            Lanes {
                multiplier: v(0),
                multiplier_odd: v(1),
                left: v(2),
                right: v(3),
                mask,
                half,
                round_even,
                round_odd,
                negative_below,
            }
        }
    }
}

/// TFLite's `MultiplyByQuantizedMultiplier` on 16 lanes: with `E` as
/// [`crate::quant::Requant::apply_early`] computes it, else step by step.
#[inline(always)]
unsafe fn requant<const E: u8>(x: __m512i, l: Lanes) -> __m512i {
    // SAFETY: AVX-512F is enabled by every caller.
    unsafe {
        // No channel of a ROUND_EARLY_NO_LEFT layer shifts left.
        let x = if E == ROUND_EARLY_NO_LEFT {
            x
        } else {
            _mm512_sllv_epi32(x, l.left)
        };
        let (round_even, round_odd) = if E > 0 {
            (l.round_even, l.round_odd)
        } else {
            let round = _mm512_set1_epi64(1 << 30);
            (round, round)
        };
        // Even lanes: the low halves of each 64-bit pair; odd lanes: the high halves, moved
        // down by a shuffle.
        let even = _mm512_add_epi64(_mm512_mul_epi32(x, l.multiplier), round_even);
        let odd = _mm512_add_epi64(
            _mm512_mul_epi32(_mm512_shuffle_epi32::<0xF5>(x), l.multiplier_odd),
            round_odd,
        );
        // (p + round) >> 31: the even result in the low half; the odd one, shifted left by
        // one, has it in the high half.
        let even = _mm512_srli_epi64(even, 31);
        let odd = _mm512_slli_epi64(odd, 1);
        let high = _mm512_mask_blend_epi32(0xAAAA, even, odd);
        let one = _mm512_set1_epi32(1);
        if E > 0 {
            // `high` already holds half a step: one less where the product was negative
            // (it is then below half a step), and the shift.
            let negative = _mm512_cmplt_epi32_mask(high, l.negative_below);
            return _mm512_srav_epi32(_mm512_mask_sub_epi32(high, negative, high, one), l.right);
        }
        // Rounding divide by 2^right: halves away from zero.
        let rem = _mm512_and_si512(high, l.mask);
        let threshold = _mm512_sub_epi32(l.half, _mm512_srai_epi32(high, 31));
        let shifted = _mm512_srav_epi32(high, l.right);
        let up = _mm512_cmpgt_epi32_mask(rem, threshold);
        _mm512_mask_add_epi32(shifted, up, shifted, one)
    }
}

/// A layer's output step after the requantization: `+ zp`, then the clamp to `[lo, hi]`,
/// where the narrowing that follows would not do it (the saturating packs clamp to
/// 0..=255; the unsigned narrowing store to ..=255 only).
#[derive(Clone, Copy)]
struct Out {
    zp: __m512i,
    lo: __m512i,
    hi: __m512i,
    clamp: bool,
}

impl Out {
    #[inline(always)]
    unsafe fn new(q: &OutputQuant) -> Out {
        // SAFETY: AVX-512F is enabled by every caller.
        unsafe {
            Out {
                zp: _mm512_set1_epi32(q.zero_point),
                lo: _mm512_set1_epi32(q.min),
                hi: _mm512_set1_epi32(q.max),
                clamp: q.min > 0 || q.max < 255,
            }
        }
    }

    /// `v + zp`, clamped to `[lo, hi]` where the saturating packs would not.
    #[inline(always)]
    unsafe fn packed(self, v: __m512i) -> __m512i {
        // SAFETY: AVX-512F is enabled by every caller.
        unsafe {
            let v = _mm512_add_epi32(v, self.zp);
            if self.clamp {
                _mm512_min_epi32(_mm512_max_epi32(v, self.lo), self.hi)
            } else {
                v
            }
        }
    }

    /// `v + zp`, clamped, and stored as `n ≤ 16` bytes (the unsigned saturating narrowing
    /// store clamps above 255 only, so the lower bound is always applied).
    #[inline(always)]
    unsafe fn store(self, y: *mut u8, v: __m512i, n: usize) {
        // SAFETY: the caller guarantees `n` writable bytes at `y` and AVX-512F.
        unsafe {
            let v = _mm512_max_epi32(_mm512_add_epi32(v, self.zp), self.lo);
            let v = if self.clamp {
                _mm512_min_epi32(v, self.hi)
            } else {
                v
            };
            let m = ((1u32 << n) - 1) as __mmask16;
            _mm512_mask_cvtusepi32_storeu_epi8(y.cast(), m, v);
        }
    }
}

fn pointwise(x: &[u8], p: &QPointwise, panels: Range<usize>, y: &mut [u8]) {
    let k = p.k;
    assert_eq!(x.len() % k.max(1), 0, "q8 pointwise: x is not (M, K)");
    let m = x.len().checked_div(k).unwrap_or(0);
    assert_eq!(y.len(), m * p.n, "q8 pointwise: y is not (M, N)");
    assert!(panels.end <= p.panels(), "q8 pointwise: panels");
    // SAFETY: installed only after avx512f, avx512bw and avx512vnni were detected; the
    // shapes were checked above.
    unsafe {
        match p.rounding() {
            ROUND_EXACT => pointwise_vnni::<ROUND_EXACT>(x, m, p, panels, y),
            ROUND_EARLY => pointwise_vnni::<ROUND_EARLY>(x, m, p, panels, y),
            _ => pointwise_vnni::<ROUND_EARLY_NO_LEFT>(x, m, p, panels, y),
        }
    }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn pointwise_vnni<const E: u8>(
    x: &[u8],
    m: usize,
    p: &QPointwise,
    panels: Range<usize>,
    y: &mut [u8],
) {
    let mut sums: Sums = [0; MR_SMALL];
    // One panel of 8 or 16 columns: rows 8 at a time (see `small_rows_out`).
    let small = (p.n == 8 || p.n == 16) && panels == (0..1);
    let mr = if small { MR_SMALL } else { MR };
    let mut r0 = 0;
    while r0 < m {
        let rows = mr.min(m - r0);
        if p.asymmetric {
            for (r, s) in sums.iter_mut().enumerate().take(rows) {
                let row = &x[(r0 + r) * p.k..(r0 + r + 1) * p.k];
                // SAFETY: AVX-512BW is enabled here.
                *s = unsafe { row_sum(row) };
            }
        }
        let mut p0 = panels.start;
        while p0 < panels.end {
            let nv = NV.min(panels.end - p0);
            macro_rules! go {
                ($($r:literal),*) => {
                    match (rows, nv) {
                        $(
                            ($r, 1) => unsafe { tile::<$r, 1, E>(x, r0, p, p0, &sums, y) },
                            ($r, 2) => unsafe { tile::<$r, 2, E>(x, r0, p, p0, &sums, y) },
                            ($r, 3) => unsafe { tile::<$r, 3, E>(x, r0, p, p0, &sums, y) },
                            ($r, 4) => unsafe { tile::<$r, 4, E>(x, r0, p, p0, &sums, y) },
                        )*
                        (8, 1) => unsafe { tile::<8, 1, E>(x, r0, p, p0, &sums, y) },
                        _ => unreachable!("tile of {rows} rows × {nv} panels"),
                    }
                };
            }
            // SAFETY (each arm): rows r0..r0+rows and panels p0..p0+nv are in bounds (loop
            // guards).
            go!(1, 2, 3, 4, 5, 6);
            p0 += nv;
        }
        r0 += rows;
    }
}

/// Σ of one row's bytes.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn row_sum(row: &[u8]) -> i32 {
    let mut acc = _mm512_setzero_si512();
    let chunks = row.chunks_exact(64);
    let tail = chunks.remainder();
    for c in chunks {
        // SAFETY: `c` is 64 readable bytes.
        let v = unsafe { _mm512_loadu_si512(c.as_ptr().cast()) };
        acc = _mm512_add_epi64(acc, _mm512_sad_epu8(v, _mm512_setzero_si512()));
    }
    if !tail.is_empty() {
        // The masked load reads the tail's bytes only (and zeros).
        let m = u64::MAX >> (64 - tail.len());
        // SAFETY: the mask covers the tail's `len < 64` readable bytes.
        let v = unsafe { _mm512_maskz_loadu_epi8(m, tail.as_ptr().cast()) };
        acc = _mm512_add_epi64(acc, _mm512_sad_epu8(v, _mm512_setzero_si512()));
    }
    _mm512_reduce_add_epi64(acc) as i32
}

/// One R × (16·V) tile: accumulators from the column constant (less `wz·Σx` of each row
/// where one weight zero point serves all columns), `vpdpbusd` over the K groups, then the
/// epilogue.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile<const R: usize, const V: usize, const E: u8>(
    x: &[u8],
    r0: usize,
    p: &QPointwise,
    p0: usize,
    sums: &Sums,
    y: &mut [u8],
) {
    let (k, n, kg) = (p.k, p.n, p.groups());
    let full = k / 4;
    let panel_len = kg * QNR * 4;
    let xp = x.as_ptr();
    let wp = p.data.as_ptr();
    let row_term = p.asymmetric && p.wz_uniform.is_some();
    let per_column = p.asymmetric && !row_term;
    // SAFETY: rows r0..r0+R exist in x (M, K); panels p0..p0+V exist in p.data (and the
    // per-column vectors, padded to whole panels); group g < KG reads 64 bytes at
    // ((p·KG + g)·16)·4 inside panel p; full groups read 4 bytes at 4g + 4 ≤ K.
    unsafe {
        let mut acc = [[_mm512_setzero_si512(); V]; R];
        for v in 0..V {
            let cc = _mm512_loadu_si512(p.col_const.as_ptr().add((p0 + v) * QNR).cast());
            for r in 0..R {
                acc[r][v] = if row_term {
                    let z = p.wz_uniform.unwrap_or(0);
                    _mm512_sub_epi32(cc, _mm512_set1_epi32(z.wrapping_mul(sums[r])))
                } else {
                    cc
                };
            }
        }
        for g in 0..full {
            let mut b = [_mm512_setzero_si512(); V];
            for v in 0..V {
                b[v] = _mm512_loadu_si512(wp.add((p0 + v) * panel_len + g * 64).cast());
            }
            for r in 0..R {
                let row = xp.add((r0 + r) * k + 4 * g);
                let a = _mm512_set1_epi32((row as *const i32).read_unaligned());
                for v in 0..V {
                    acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], a, b[v]);
                }
            }
        }
        if full < kg {
            // The last, partial group: the weights past K are zero, so the bytes read past a
            // row (the next row's first ones) add nothing; only the matrix's last row needs
            // a copy to stay inside `x`.
            let g = full;
            let mut b = [_mm512_setzero_si512(); V];
            for v in 0..V {
                b[v] = _mm512_loadu_si512(wp.add((p0 + v) * panel_len + g * 64).cast());
            }
            for r in 0..R {
                let at = (r0 + r) * k + 4 * g;
                let word = if at + 4 <= x.len() {
                    (xp.add(at) as *const i32).read_unaligned()
                } else {
                    let mut t = [0u8; 4];
                    std::ptr::copy_nonoverlapping(xp.add(at), t.as_mut_ptr(), x.len() - at);
                    i32::from_le_bytes(t)
                };
                let a = _mm512_set1_epi32(word);
                for v in 0..V {
                    acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], a, b[v]);
                }
            }
        }
        let out = Out::new(&p.out);
        let c0 = p0 * QNR;
        // Row by row with constant indices (a loop over `acc[r]` would keep the accumulators
        // in memory, stored after every product).
        macro_rules! rows {
            ($($r:literal),*) => {$(
                if $r < R {
                    let i = ($r as usize).min(R - 1);
                    let dst = y.as_mut_ptr().add((r0 + i) * n + c0);
                    row_out::<V, E>(acc[i], sums[i], dst, p, p0, out, per_column);
                }
            )*};
        }
        if V == 1 && R == MR_SMALL && (n == 8 || n == 16) {
            let mut a = [_mm512_setzero_si512(); MR_SMALL];
            for r in 0..MR_SMALL {
                a[r] = acc[r.min(R - 1)][0];
                if per_column {
                    let wz = _mm512_loadu_si512(p.wz_padded.as_ptr().cast());
                    a[r] =
                        _mm512_sub_epi32(a[r], _mm512_mullo_epi32(wz, _mm512_set1_epi32(sums[r])));
                }
            }
            small_rows_out::<E>(a, y.as_mut_ptr().add(r0 * n), p, out);
            return;
        }
        rows!(0, 1, 2, 3, 4, 5, 6, 7);
    }
}

/// The epilogue of an 8-row tile of a layer of 8 or 16 columns, whose 8 rows are 64 or 128
/// contiguous output bytes: with 16 columns, four rows' vectors narrow together as four panels
/// do in [`row_out`]; with 8, two rows share a vector (the panel's requantization constants
/// repeated in its upper half), so the 8 rows take four requantizations and one store.
#[inline(always)]
unsafe fn small_rows_out<const E: u8>(
    acc: [__m512i; MR_SMALL],
    dst: *mut u8,
    p: &QPointwise,
    out: Out,
) {
    // SAFETY: the caller guarantees AVX-512F, one panel of 8 or 16 columns, and 8 rows of
    // output from `dst`.
    unsafe {
        let lanes = Lanes::prepared::<E>(p, 0);
        if p.n == 16 {
            for h in 0..2 {
                let mut o = [_mm512_setzero_si512(); 4];
                for j in 0..4 {
                    o[j] = requant::<E>(acc[4 * h + j], lanes);
                }
                store4(o, dst.add(64 * h), out);
            }
        } else {
            let lanes = lanes.low_twice();
            let mut o = [_mm512_setzero_si512(); 4];
            for j in 0..4 {
                let two =
                    _mm512_inserti64x4::<1>(acc[2 * j], _mm512_castsi512_si256(acc[2 * j + 1]));
                o[j] = requant::<E>(two, lanes);
            }
            store4(o, dst, out);
        }
    }
}

/// `+ zp`, the clamp, and the 64 bytes of four requantized vectors stored in order: the
/// saturating packs to i16 then u8 leave, in each 128-bit lane k, dword j holding lanes
/// 4k..4k+4 of vector j; one dword permute puts them back.
#[inline(always)]
unsafe fn store4(o: [__m512i; 4], dst: *mut u8, out: Out) {
    // SAFETY: the caller guarantees AVX-512BW and 64 writable bytes at `dst`.
    unsafe {
        let w0 = _mm512_packs_epi32(out.packed(o[0]), out.packed(o[1]));
        let w1 = _mm512_packs_epi32(out.packed(o[2]), out.packed(o[3]));
        let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        let b = _mm512_permutexvar_epi32(order, _mm512_packus_epi16(w0, w1));
        _mm512_storeu_si512(dst.cast(), b);
    }
}

/// The epilogue of one row of a tile: `− wz·Σx` where `per_column` (the row's input sum
/// `sum`), the requantization, `+ zp`, the clamp, and the store of the V panels' columns
/// from `dst` (the row's first column of panel `p0`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
unsafe fn row_out<const V: usize, const E: u8>(
    acc: [__m512i; V],
    sum: i32,
    dst: *mut u8,
    p: &QPointwise,
    p0: usize,
    out: Out,
    per_column: bool,
) {
    // SAFETY: the caller guarantees AVX-512F, `p0 + V` ≤ P, and the row's columns from
    // `dst` writable up to N.
    unsafe {
        let (n, c0) = (p.n, p0 * QNR);
        let mut o = [_mm512_setzero_si512(); V];
        for v in 0..V {
            let mut a = acc[v];
            if per_column {
                let wz = _mm512_loadu_si512(p.wz_padded.as_ptr().add(c0 + v * QNR).cast());
                a = _mm512_sub_epi32(a, _mm512_mullo_epi32(wz, _mm512_set1_epi32(sum)));
            }
            o[v] = requant::<E>(a, Lanes::prepared::<E>(p, p0 + v));
        }
        if (V == 4 || V == 2) && c0 + V * QNR <= n {
            // Whole panels, narrowed together (see `store4`).
            if V == 4 {
                store4([o[0], o[1 % V], o[2 % V], o[3 % V]], dst, out);
            } else {
                let w0 = _mm512_packs_epi32(out.packed(o[0]), out.packed(o[1 % V]));
                let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 0, 0, 0, 0, 0, 0, 0, 0);
                let b = _mm512_permutexvar_epi32(order, _mm512_packus_epi16(w0, w0));
                _mm256_storeu_si256(dst.cast(), _mm512_castsi512_si256(b));
            }
            return;
        }
        for v in 0..V {
            let c = c0 + v * QNR;
            if c < n {
                out.store(dst.add(v * QNR), o[v], QNR.min(n - c));
            }
        }
    }
}

/// The depthwise entry; `VNNI` (installed only where the CPU has avx512vnni) sums the tap
/// pairs with `vpdpwssd` instead of `vpmaddwd` + `vpaddd`.
fn dwconv3x3<const VNNI: bool>(
    args: &DwArgs,
    x: &[u8],
    p: &QDepthwise,
    rows: Range<usize>,
    y: &mut [u8],
) {
    q8_avx2::check_dwconv3x3(args, x, p, &rows, y);
    let whole = args.c / QDW_WIDE_BLOCK;
    let blocks = whole + p.wide_packed_blocks;
    assert!(
        p.wide_pairs.len() == blocks * QDW_PAIRS * 4 * 32
            && p.wide_lanes.len() == blocks * 4 * QDW_WIDE_LANE_PARAMS,
        "q8 dwconv3x3: wide layout"
    );
    // The 256-bit blocks after the wide ones: two per wide block; and the interior pixels
    // before the last whole group of the 64-byte packed layout are done.
    let first = 2 * whole;
    let wide_group = wide_packed_group(p, &args.geom);
    // SAFETY: installed only after avx512f and avx512bw (and, for `VNNI`, avx512vnni) were
    // detected (which imply AVX2); the shapes were checked above.
    unsafe {
        macro_rules! wide {
            ($f:ident, $g:ident) => {
                match (p.rounding(), VNNI) {
                    (ROUND_EXACT, true) => $g::<ROUND_EXACT>(args, x, p, rows.clone(), y),
                    (ROUND_EARLY, true) => $g::<ROUND_EARLY>(args, x, p, rows.clone(), y),
                    (_, true) => $g::<ROUND_EARLY_NO_LEFT>(args, x, p, rows.clone(), y),
                    (ROUND_EXACT, false) => $f::<ROUND_EXACT>(args, x, p, rows.clone(), y),
                    (ROUND_EARLY, false) => $f::<ROUND_EARLY>(args, x, p, rows.clone(), y),
                    (_, false) => $f::<ROUND_EARLY_NO_LEFT>(args, x, p, rows.clone(), y),
                }
            };
        }
        wide!(dwconv3x3_wide, dwconv3x3_wide_vnni);
        if wide_group.is_some() {
            wide!(dwconv3x3_wide_packed, dwconv3x3_wide_packed_vnni);
        }
        match p.rounding() {
            ROUND_EXACT => {
                q8_avx2::dwconv3x3_blocks_avx2::<ROUND_EXACT>(
                    args,
                    x,
                    p,
                    rows.clone(),
                    y,
                    first,
                    wide_group,
                );
                q8_avx2::dwconv3x3_avx2::<ROUND_EXACT>(args, x, p, rows, y);
            }
            ROUND_EARLY => {
                q8_avx2::dwconv3x3_blocks_avx2::<ROUND_EARLY>(
                    args,
                    x,
                    p,
                    rows.clone(),
                    y,
                    first,
                    wide_group,
                );
                q8_avx2::dwconv3x3_avx2::<ROUND_EARLY>(args, x, p, rows, y);
            }
            _ => {
                q8_avx2::dwconv3x3_blocks_avx2::<ROUND_EARLY_NO_LEFT>(
                    args,
                    x,
                    p,
                    rows.clone(),
                    y,
                    first,
                    wide_group,
                );
                q8_avx2::dwconv3x3_avx2::<ROUND_EARLY_NO_LEFT>(args, x, p, rows, y);
            }
        }
    }
}

/// One output pixel of one 64-channel block from its nine input vectors (`tap(t)`, 64 bytes
/// each): as the 256-bit kernel's `block_pixel`, each pair of taps interleaved byte by byte,
/// widened to i16 pairs by unpacking with zero (all within 128-bit lanes), and multiplied by
/// the prepared weight pairs with `vpmaddwd`; the accumulators hold the channels in
/// [`crate::qdepthwise::block_channel`] order (16 lanes), which the two narrowing packs put
/// back.
#[inline(always)]
unsafe fn wide_pixel<const E: u8, const VNNI: bool>(
    tap: impl Fn(usize) -> __m512i,
    pairs: *const i16,
    lanes: *const i32,
    dst: *mut u8,
    out: Out,
) {
    // SAFETY: the caller guarantees the prepared block at `pairs`/`lanes`, 64 writable bytes
    // at `dst`, and AVX-512BW.
    unsafe {
        let zero = _mm512_setzero_si512();
        let mut acc = [zero; 4];
        for j in 0..4 {
            acc[j] = _mm512_loadu_si512(lanes.add(j * QDW_WIDE_LANE_PARAMS).cast());
        }
        for q in 0..QDW_PAIRS {
            let a = tap(2 * q);
            let b = if 2 * q + 1 < 9 { tap(2 * q + 1) } else { zero };
            let ab = [_mm512_unpacklo_epi8(a, b), _mm512_unpackhi_epi8(a, b)];
            for j in 0..4 {
                let h = ab[j / 2];
                let v = if j % 2 == 0 {
                    _mm512_unpacklo_epi8(h, zero)
                } else {
                    _mm512_unpackhi_epi8(h, zero)
                };
                let w = _mm512_loadu_si512(pairs.add((q * 4 + j) * 32).cast());
                acc[j] = if VNNI {
                    _mm512_dpwssd_epi32(acc[j], v, w)
                } else {
                    _mm512_add_epi32(acc[j], _mm512_madd_epi16(v, w))
                };
            }
        }
        let mut r = [zero; 4];
        for j in 0..4 {
            let at = lanes.add(j * QDW_WIDE_LANE_PARAMS + 16);
            r[j] = out.packed(requant::<E>(acc[j], Lanes::at::<E>(at)));
        }
        // Saturating to i16, then to u8 (the clamp to 0..=255): in each 128-bit lane the
        // accumulators' four channels each come back in order.
        let bytes = _mm512_packus_epi16(
            _mm512_packs_epi32(r[0], r[1]),
            _mm512_packs_epi32(r[2], r[3]),
        );
        _mm512_storeu_si512(dst.cast(), bytes);
    }
}

/// The whole 64-channel blocks of rows `rows` (see [`wide_pixel`]).
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn dwconv3x3_wide<const E: u8>(
    args: &DwArgs,
    x: &[u8],
    p: &QDepthwise,
    rows: Range<usize>,
    y: &mut [u8],
) {
    // SAFETY: forwarded from the caller; AVX-512F and BW are enabled here.
    unsafe { wide_blocks::<E, false>(args, x, p, rows, y) }
}

/// [`dwconv3x3_wide`] with `vpdpwssd`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dwconv3x3_wide_vnni<const E: u8>(
    args: &DwArgs,
    x: &[u8],
    p: &QDepthwise,
    rows: Range<usize>,
    y: &mut [u8],
) {
    // SAFETY: forwarded from the caller; AVX-512F, BW and VNNI are enabled here.
    unsafe { wide_blocks::<E, true>(args, x, p, rows, y) }
}

#[inline(always)]
unsafe fn wide_blocks<const E: u8, const VNNI: bool>(
    args: &DwArgs,
    x: &[u8],
    p: &QDepthwise,
    rows: Range<usize>,
    y: &mut [u8],
) {
    let g = &args.geom;
    let c = args.c;
    let (ih, iw) = (g.in_h as isize, g.in_w as isize);
    let s = g.stride;
    let ow = g.out_w();
    // SAFETY: AVX-512F is enabled.
    let out = unsafe { Out::new(&p.out) };
    // SAFETY: AVX-512F is enabled by every caller.
    let xz = unsafe { _mm512_set1_epi8(p.x_zero_point as u8 as i8) };
    let interior = g.interior_cols();
    let row_step = g.in_w * c;
    // SAFETY: the caller checked x: (H, W, C) and y: (rows, OW, C); every whole block is 64
    // channels of one pixel, so 64-byte loads and stores stay inside their pixel; border taps
    // outside the image read the zero point instead; interior columns' windows lie inside.
    unsafe {
        for b in 0..c / QDW_WIDE_BLOCK {
            let c0 = b * QDW_WIDE_BLOCK;
            let pairs = p.wide_pairs.as_ptr().add(b * QDW_PAIRS * 4 * 32);
            let lanes = p.wide_lanes.as_ptr().add(b * 4 * QDW_WIDE_LANE_PARAMS);
            let xc = x.as_ptr().add(c0);
            for (r, oy) in rows.clone().enumerate() {
                let iy0 = (oy * s) as isize - g.pad.top as isize;
                let yrow = y.as_mut_ptr().add(r * ow * c + c0);
                let (border, inner) = q8_avx2::row_columns(g, iy0, &interior);
                for ox in border {
                    let ix0 = (ox * s) as isize - g.pad.left as isize;
                    let tap = |t: usize| {
                        let (iy, ix) = (iy0 + (t / 3) as isize, ix0 + (t % 3) as isize);
                        if (0..ih).contains(&iy) && (0..iw).contains(&ix) {
                            _mm512_loadu_si512(xc.offset((iy * iw + ix) * c as isize).cast())
                        } else {
                            xz
                        }
                    };
                    wide_pixel::<E, VNNI>(tap, pairs, lanes, yrow.add(ox * c), out);
                }
                if inner.is_empty() {
                    continue;
                }
                let row0 = xc.offset(iy0 * iw * c as isize);
                for ox in inner {
                    let px = row0.add((ox * s - g.pad.left) * c);
                    let tap = |t: usize| {
                        _mm512_loadu_si512(px.add((t / 3) * row_step + (t % 3) * c).cast())
                    };
                    wide_pixel::<E, VNNI>(tap, pairs, lanes, yrow.add(ox * c), out);
                }
            }
        }
    }
}

/// The 64-byte packed layout's whole groups of interior pixels of rows `rows` (a stride-1
/// layer of at most 32 channels, [`QDepthwise::wide_packed_blocks`]); apart from the whole
/// blocks' loop, whose code it would otherwise share a function with.
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn dwconv3x3_wide_packed<const E: u8>(
    args: &DwArgs,
    x: &[u8],
    p: &QDepthwise,
    rows: Range<usize>,
    y: &mut [u8],
) {
    // SAFETY: forwarded from the caller; AVX-512F and BW are enabled here.
    unsafe { wide_packed_rows::<E, false>(args, x, p, rows, y) }
}

/// [`dwconv3x3_wide_packed`] with `vpdpwssd`.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn dwconv3x3_wide_packed_vnni<const E: u8>(
    args: &DwArgs,
    x: &[u8],
    p: &QDepthwise,
    rows: Range<usize>,
    y: &mut [u8],
) {
    // SAFETY: forwarded from the caller; AVX-512F, BW and VNNI are enabled here.
    unsafe { wide_packed_rows::<E, true>(args, x, p, rows, y) }
}

#[inline(always)]
unsafe fn wide_packed_rows<const E: u8, const VNNI: bool>(
    args: &DwArgs,
    x: &[u8],
    p: &QDepthwise,
    rows: Range<usize>,
    y: &mut [u8],
) {
    let g = &args.geom;
    let c = args.c;
    let iw = g.in_w as isize;
    let ow = g.out_w();
    // SAFETY: AVX-512F is enabled by every caller.
    let out = unsafe { Out::new(&p.out) };
    let interior = g.interior_cols();
    let row_step = g.in_w * c;
    let Some(group) = wide_packed_group(p, g) else {
        return;
    };
    // SAFETY: the caller checked x: (H, W, C) and y: (rows, OW, C); a group's blocks load,
    // for each tap, the bytes of the group's pixels' taps (all inside the image: interior
    // columns of a row whose window lies inside) and store its pixels.
    unsafe {
        // Packed: groups of `group` interior pixels as `wide_packed_blocks` blocks of 64
        // bytes; block b of a group starts 64·b bytes after its first pixel, and its tap
        // (kh, kw) lies kh rows and kw pixels (kw·C bytes) from the window's corner.
        for (r, oy) in rows.enumerate() {
            let iy0 = oy as isize - g.pad.top as isize;
            let (_, inner) = q8_avx2::row_columns(g, iy0, &interior);
            let yrow = y.as_mut_ptr().add(r * ow * c);
            for g0 in (0..inner.len() / group).map(|i| inner.start + i * group) {
                let corner = x
                    .as_ptr()
                    .offset(iy0 * iw * c as isize)
                    .add((g0 - g.pad.left) * c);
                for b in 0..p.wide_packed_blocks {
                    let px = corner.add(b * QDW_WIDE_BLOCK);
                    let tap = |t: usize| {
                        _mm512_loadu_si512(px.add((t / 3) * row_step + (t % 3) * c).cast())
                    };
                    let pairs = p.wide_pairs.as_ptr().add(b * QDW_PAIRS * 4 * 32);
                    let lanes = p.wide_lanes.as_ptr().add(b * 4 * QDW_WIDE_LANE_PARAMS);
                    let dst = yrow.add(g0 * c + b * QDW_WIDE_BLOCK);
                    wide_pixel::<E, VNNI>(tap, pairs, lanes, dst, out);
                }
            }
        }
    }
}

/// Pixels per group of the 64-byte packed layout when this layer runs on it: at most 32
/// channels and stride 1.
fn wide_packed_group(p: &QDepthwise, g: &crate::geometry::Conv2dGeometry) -> Option<usize> {
    p.wide_packed_group().filter(|_| g.stride == 1)
}
