//! Quantized kernels for AVX-512: the uint8 GEMM on AVX512-VNNI (`vpdpbusd`: 64 u8×i8
//! products into 16 i32 lanes per instruction), and the vector requantization shared by the
//! GEMM and the 3×3 layers' epilogue. Installed by [`super::register`] only after the CPU
//! reported avx512f + avx512bw (+ avx512vnni for the GEMM).
//!
//! The requantization is TFLite's `MultiplyByQuantizedMultiplier` lane by lane, bit-exact
//! with [`crate::quant::Requant::apply`]: a 32×32→64-bit product on the even and the odd
//! lanes (`vpmuldq`), `(p + 2^30) >> 31`, then the rounding right shift.

use std::arch::x86_64::*;
use std::ops::Range;

use crate::dispatch::Q8Kernels;
use crate::qpacked::{QPointwise, QNR};

/// Rows per GEMM tile: 6 rows × 4 panels = 24 accumulators, 4 weight vectors, 1 broadcast.
const MR: usize = 6;
/// Panels (of 16 columns) per GEMM tile.
const NV: usize = 4;

pub(super) fn install(q: &mut Q8Kernels, vnni: bool) {
    if vnni {
        q.pointwise = pointwise;
        q.byte_pairs = false;
        q.name = "avx512-vnni";
    }
}

/// Per-lane requantization parameters of 16 columns.
#[derive(Clone, Copy)]
struct Lanes {
    multiplier: __m512i,
    left: __m512i,
    right: __m512i,
}

impl Lanes {
    #[inline(always)]
    unsafe fn load(multiplier: *const i32, shift: *const i32) -> Lanes {
        // SAFETY: the caller guarantees 16 readable i32 at each pointer and AVX-512F.
        unsafe {
            let s = _mm512_loadu_si512(shift.cast());
            let zero = _mm512_setzero_si512();
            Lanes {
                multiplier: _mm512_loadu_si512(multiplier.cast()),
                left: _mm512_max_epi32(s, zero),
                right: _mm512_max_epi32(_mm512_sub_epi32(zero, s), zero),
            }
        }
    }
}

/// TFLite's `MultiplyByQuantizedMultiplier` on 16 lanes.
#[inline(always)]
unsafe fn requant(x: __m512i, l: Lanes) -> __m512i {
    // SAFETY: AVX-512F is enabled by every caller.
    unsafe {
        let x = _mm512_sllv_epi32(x, l.left);
        let round = _mm512_set1_epi64(1 << 30);
        // Even lanes: the low halves of each 64-bit pair; odd lanes: the high halves.
        let even = _mm512_add_epi64(_mm512_mul_epi32(x, l.multiplier), round);
        let odd = _mm512_add_epi64(
            _mm512_mul_epi32(
                _mm512_srli_epi64(x, 32),
                _mm512_srli_epi64(l.multiplier, 32),
            ),
            round,
        );
        // (p + 2^30) >> 31: the even result in the low half; the odd one, shifted left by one,
        // has it in the high half.
        let even = _mm512_srli_epi64(even, 31);
        let odd = _mm512_slli_epi64(odd, 1);
        let high = _mm512_mask_blend_epi32(0xAAAA, even, odd);
        // Rounding divide by 2^right: halves away from zero.
        let one = _mm512_set1_epi32(1);
        let mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, l.right), one);
        let rem = _mm512_and_si512(high, mask);
        let threshold = _mm512_sub_epi32(_mm512_srli_epi32(mask, 1), _mm512_srai_epi32(high, 31));
        let shifted = _mm512_srav_epi32(high, l.right);
        let up = _mm512_cmpgt_epi32_mask(rem, threshold);
        _mm512_mask_add_epi32(shifted, up, shifted, one)
    }
}

/// `+ zp`, clamp, and store `n ≤ 16` bytes.
#[inline(always)]
unsafe fn store_u8(y: *mut u8, v: __m512i, zp: __m512i, lo: __m512i, hi: __m512i, n: usize) {
    // SAFETY: the caller guarantees `n` writable bytes at `y` and AVX-512F.
    unsafe {
        let v = _mm512_min_epi32(_mm512_max_epi32(_mm512_add_epi32(v, zp), lo), hi);
        let m = ((1u32 << n) - 1) as __mmask16;
        _mm512_mask_cvtusepi32_storeu_epi8(y.cast(), m, v);
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
    unsafe { pointwise_vnni(x, m, p, panels, y) }
}

#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn pointwise_vnni(x: &[u8], m: usize, p: &QPointwise, panels: Range<usize>, y: &mut [u8]) {
    let mut sums = [0i32; MR];
    let mut r0 = 0;
    while r0 < m {
        let rows = MR.min(m - r0);
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
            // SAFETY: rows r0..r0+rows and panels p0..p0+nv are in bounds (loop guards).
            unsafe { tile(x, r0, rows, p, p0, nv, &sums, y) };
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
    let tail: i32 = chunks.remainder().iter().map(|&v| v as i32).sum();
    for c in chunks {
        // SAFETY: `c` is 64 readable bytes.
        let v = unsafe { _mm512_loadu_si512(c.as_ptr().cast()) };
        acc = _mm512_add_epi64(acc, _mm512_sad_epu8(v, _mm512_setzero_si512()));
    }
    _mm512_reduce_add_epi64(acc) as i32 + tail
}

/// Dispatches a tile to the instance of its shape.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile(
    x: &[u8],
    r0: usize,
    rows: usize,
    p: &QPointwise,
    p0: usize,
    nv: usize,
    sums: &[i32; MR],
    y: &mut [u8],
) {
    macro_rules! go {
        ($($r:literal),*) => {
            match (rows, nv) {
                $(
                    ($r, 1) => unsafe { tile_n::<$r, 1>(x, r0, p, p0, sums, y) },
                    ($r, 2) => unsafe { tile_n::<$r, 2>(x, r0, p, p0, sums, y) },
                    ($r, 3) => unsafe { tile_n::<$r, 3>(x, r0, p, p0, sums, y) },
                    ($r, 4) => unsafe { tile_n::<$r, 4>(x, r0, p, p0, sums, y) },
                )*
                _ => unreachable!("tile of {rows} rows × {nv} panels"),
            }
        };
    }
    // SAFETY (each arm): forwarded from the caller.
    go!(1, 2, 3, 4, 5, 6)
}

/// One R × (16·V) tile: `vpdpbusd` over the K groups, then the epilogue.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn tile_n<const R: usize, const V: usize>(
    x: &[u8],
    r0: usize,
    p: &QPointwise,
    p0: usize,
    sums: &[i32; MR],
    y: &mut [u8],
) {
    let (k, n, kg) = (p.k, p.n, p.groups());
    let full = k / 4;
    let panel_len = kg * QNR * 4;
    let mut acc = [[_mm512_setzero_si512(); V]; R];
    let xp = x.as_ptr();
    let wp = p.data.as_ptr();
    // SAFETY: rows r0..r0+R exist in x (M, K); panels p0..p0+V exist in p.data; group g < KG
    // reads 64 bytes at ((p·KG + g)·16)·4 inside panel p; full groups read 4 bytes at 4g < K.
    unsafe {
        for g in 0..kg {
            let mut b = [_mm512_setzero_si512(); V];
            for v in 0..V {
                b[v] = _mm512_loadu_si512(wp.add((p0 + v) * panel_len + g * 64).cast());
            }
            for r in 0..R {
                let row = xp.add((r0 + r) * k + 4 * g);
                let word = if g < full {
                    (row as *const i32).read_unaligned()
                } else {
                    // The last, partial group: the bytes past K are zero (so are the weights).
                    let mut t = [0u8; 4];
                    std::ptr::copy_nonoverlapping(row, t.as_mut_ptr(), k - 4 * g);
                    i32::from_le_bytes(t)
                };
                let a = _mm512_set1_epi32(word);
                for v in 0..V {
                    acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], a, b[v]);
                }
            }
        }
        let q = &p.out;
        let zp = _mm512_set1_epi32(q.zero_point);
        let lo = _mm512_set1_epi32(q.min);
        let hi = _mm512_set1_epi32(q.max);
        for v in 0..V {
            let c0 = (p0 + v) * QNR;
            let cols = QNR.min(n - c0);
            let lanes = Lanes::load(p.multiplier.as_ptr().add(c0), p.shift.as_ptr().add(c0));
            let cc = _mm512_loadu_si512(p.col_const.as_ptr().add(c0).cast());
            let wz = _mm512_loadu_si512(p.wz_padded.as_ptr().add(c0).cast());
            for r in 0..R {
                let mut a = _mm512_add_epi32(acc[r][v], cc);
                if p.asymmetric {
                    let s = _mm512_set1_epi32(sums[r]);
                    a = _mm512_sub_epi32(a, _mm512_mullo_epi32(wz, s));
                }
                let out = requant(a, lanes);
                store_u8(y.as_mut_ptr().add((r0 + r) * n + c0), out, zp, lo, hi, cols);
            }
        }
    }
}
