//! Quantized kernels for AVX2 CPUs without VNNI: the uint8 GEMM on `vpmaddwd` (inputs and
//! weights widened to i16, 16 products summed pairwise into 8 i32 lanes per instruction; no
//! saturation, unlike `vpmaddubsw`, so it is exact for every u8 × i8) or, for layers whose
//! weights rule saturation out ([`QPointwise::byte_pairs_exact`]), on `vpmaddubsw` straight
//! from the input bytes; the depthwise 3×3 layer (32-channel blocks on tap pairs, see
//! [`block_pixel`], or blocks of 32 bytes of pixels when a stride-1 layer has fewer channels;
//! the channels after the last block, and the pixels outside the packed groups, 8 channels
//! at a time); and the vector
//! quantization of the input.
//! Installed by [`super::register`] only after the CPU reported avx2 + fma; the AVX-512 table
//! overwrites what it has better versions of.
//!
//! The i16 GEMM reads the weights in [`QPointwise::pairs`] layout (the byte-pair one reads the
//! packed "4x16c4" layout). Each tile widens its rows'
//! inputs to i16 once, into a per-thread buffer, so that the inner loop broadcasts a pair of
//! inputs with one load. The requantization is TFLite's `MultiplyByQuantizedMultiplier` lane by
//! lane, bit-exact with [`crate::quant::Requant::apply`] (as in `q8_avx512.rs`, on 8 lanes).

use std::arch::x86_64::*;
use std::cell::RefCell;
use std::ops::Range;

use crate::dispatch::Q8Kernels;
use crate::geometry::{Conv2dGeometry, DwArgs};
use crate::qdepthwise::{QDepthwise, QDW_BLOCK, QDW_LANE_PARAMS, QDW_PAIRS};
use crate::qpacked::{PairLayout, QPointwise, QNR};
use crate::quant::{
    OutputQuant, Requant, REQUANT_LANES, ROUND_EARLY, ROUND_EARLY_NO_LEFT, ROUND_EXACT,
};

/// Rows per GEMM tile: 6 rows × 2 vectors = 12 accumulators, 2 weight vectors, 1 broadcast.
const MR: usize = 6;

/// Installs the AVX2 entries, the GEMM on AVX-VNNI where the CPU has it and `vnni` allows it.
pub(super) fn install(q: &mut Q8Kernels, vnni: bool) {
    q.pointwise = pointwise::<false>;
    q.byte_pairs = true;
    q.dwconv3x3 = dwconv3x3;
    q.quantize = quantize;
    q.name = "avx2";
    if vnni && is_x86_feature_detected!("avxvnni") {
        // AVX-VNNI (256-bit `vpdpbusd`, on AVX2 CPUs such as Intel's hybrid and E-core parts):
        // exact for any int8 weights, so every layer whose K is a multiple of 4 takes the
        // byte kernel, one instruction per 32 products.
        q.pointwise = pointwise::<true>;
        q.byte_pairs = false;
        q.name = "avx2-vnni";
    }
}

/// Per-lane requantization constants of 8 columns ([`Requant::lanes`], prepared at load, so
/// that no tile derives them).
#[derive(Clone, Copy)]
struct Lanes {
    multiplier: __m256i,
    /// The odd lanes' multipliers moved to the even positions (`vpmuldq` reads those).
    multiplier_odd: __m256i,
    left: __m256i,
    right: __m256i,
    /// `2^right − 1` and half of it (the exact rounding).
    mask: __m256i,
    half: __m256i,
    /// The early rounding's 64-bit sums of the even and the odd lanes, and its sign test's
    /// comparand.
    round_even: __m256i,
    round_odd: __m256i,
    negative_below: __m256i,
}

impl Lanes {
    /// The [`REQUANT_LANES`] i32 at `at`: those of the early rounding (`E`) or of the exact
    /// one, the others zero.
    #[inline(always)]
    unsafe fn prepared<const E: u8>(at: *const i32) -> Lanes {
        // SAFETY: the caller guarantees REQUANT_LANES readable i32 at `at` and AVX2.
        unsafe {
            let v = |k: usize| _mm256_loadu_si256(at.add(8 * k).cast());
            let zero = _mm256_setzero_si256();
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

/// TFLite's `MultiplyByQuantizedMultiplier` on 8 lanes: with `E` (the layer's accumulators
/// are bounded so, see [`Requant::early_rounding_fits`]) as [`Requant::apply_early`]
/// computes it, else step by step. Every kernel takes `E` as a const parameter, chosen once
/// per layer, so that each compiled loop holds one rounding's constants.
#[inline(always)]
unsafe fn requant<const E: u8>(x: __m256i, l: Lanes) -> __m256i {
    // SAFETY: AVX2 is enabled by every caller.
    unsafe {
        // No channel of a ROUND_EARLY_NO_LEFT layer shifts left.
        let x = if E == ROUND_EARLY_NO_LEFT {
            x
        } else {
            _mm256_sllv_epi32(x, l.left)
        };
        let (round_even, round_odd) = if E > 0 {
            (l.round_even, l.round_odd)
        } else {
            let round = _mm256_set1_epi64x(1 << 30);
            (round, round)
        };
        // Even lanes: the low halves of each 64-bit pair; odd lanes: the high halves, moved
        // down by a shuffle (a shift would zero-extend and make LLVM emulate a 64-bit multiply).
        let even = _mm256_add_epi64(_mm256_mul_epi32(x, l.multiplier), round_even);
        let odd = _mm256_add_epi64(
            _mm256_mul_epi32(_mm256_shuffle_epi32::<0xF5>(x), l.multiplier_odd),
            round_odd,
        );
        // (p + round) >> 31: the even result in the low half; the odd one, shifted left by
        // one, has it in the high half.
        let even = _mm256_srli_epi64(even, 31);
        let odd = _mm256_slli_epi64(odd, 1);
        let high = _mm256_blend_epi32::<0xAA>(even, odd);
        if E > 0 {
            // `high` already holds half a step: one less where the product was negative
            // (it is then below half a step), and the shift.
            let negative = _mm256_cmpgt_epi32(l.negative_below, high);
            return _mm256_srav_epi32(_mm256_add_epi32(high, negative), l.right);
        }
        // Rounding divide by 2^right: halves away from zero.
        let rem = _mm256_and_si256(high, l.mask);
        let threshold = _mm256_sub_epi32(l.half, _mm256_srai_epi32(high, 31));
        let shifted = _mm256_srav_epi32(high, l.right);
        // The comparison is −1 where the remainder rounds up.
        _mm256_sub_epi32(shifted, _mm256_cmpgt_epi32(rem, threshold))
    }
}

/// A layer's output step after the requantization: `+ zp`, then the clamp to `[lo, hi]`,
/// which the narrowing packs (`vpackssdw`, then `vpackuswb`: a signed saturation to i16,
/// then an unsigned one to u8) already do where the range is all of 0..=255 (a ReLU6 layer
/// whose 6.0 is 255 steps, as in Google's files).
#[derive(Clone, Copy)]
struct Out {
    zp: __m256i,
    lo: __m256i,
    hi: __m256i,
    clamp: bool,
}

impl Out {
    #[inline(always)]
    unsafe fn new(q: &OutputQuant) -> Out {
        // SAFETY: AVX2 is enabled by every caller.
        unsafe {
            Out {
                zp: _mm256_set1_epi32(q.zero_point),
                lo: _mm256_set1_epi32(q.min),
                hi: _mm256_set1_epi32(q.max),
                clamp: q.min > 0 || q.max < 255,
            }
        }
    }

    /// `v + zp`, clamped to `[lo, hi]` where the packs that follow would not.
    #[inline(always)]
    unsafe fn apply(self, v: __m256i) -> __m256i {
        // SAFETY: AVX2 is enabled by every caller.
        unsafe {
            let v = _mm256_add_epi32(v, self.zp);
            if self.clamp {
                _mm256_min_epi32(_mm256_max_epi32(v, self.lo), self.hi)
            } else {
                v
            }
        }
    }
}

/// `+ zp`, clamp, and store `n ≤ 8` bytes.
#[inline(always)]
unsafe fn store_u8(y: *mut u8, v: __m256i, out: Out, n: usize) {
    // SAFETY: the caller guarantees `n` writable bytes at `y` and AVX2.
    unsafe {
        let v = out.apply(v);
        // Saturating to i16, then to u8: the clamp to 0..=255.
        let w = _mm256_packs_epi32(v, v); // per 128-bit lane: v0..v3 v0..v3 | v4..v7 v4..v7
        let b = _mm256_packus_epi16(w, w);
        let bytes = _mm_unpacklo_epi32(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1));
        if n == 8 {
            _mm_storel_epi64(y.cast(), bytes);
        } else {
            // Piecewise, without a `memcpy` call (which would make every ymm register
            // caller-saved in the loops this is inlined into).
            let mut v = _mm_cvtsi128_si64(bytes) as u64;
            let mut at = 0;
            for piece in [4, 2, 1] {
                if n & piece != 0 {
                    match piece {
                        4 => (y.add(at) as *mut u32).write_unaligned(v as u32),
                        2 => (y.add(at) as *mut u16).write_unaligned(v as u16),
                        _ => y.add(at).write(v as u8),
                    }
                    v >>= 8 * piece;
                    at += piece;
                }
            }
        }
    }
}

thread_local! {
    /// The current tile's inputs widened to i16, MR rows of 2·KP.
    static WIDE: RefCell<Vec<i16>> = const { RefCell::new(Vec::new()) };
}

/// The AVX2 GEMM entry; `VNNI` (installed only where the CPU has avxvnni) runs every layer
/// whose K is a multiple of 4 on the byte kernel with `vpdpbusd`.
fn pointwise<const VNNI: bool>(x: &[u8], p: &QPointwise, panels: Range<usize>, y: &mut [u8]) {
    let k = p.k;
    assert_eq!(x.len() % k.max(1), 0, "q8 pointwise: x is not (M, K)");
    let m = x.len().checked_div(k).unwrap_or(0);
    assert_eq!(y.len(), m * p.n, "q8 pointwise: y is not (M, N)");
    assert!(panels.end <= p.panels(), "q8 pointwise: panels");
    if VNNI && k.is_multiple_of(4) {
        // SAFETY: installed only after avx2 and avxvnni were detected; shapes checked above;
        // K is a multiple of 4, so every 4-byte group lies inside its row.
        unsafe {
            match p.rounding() {
                ROUND_EXACT => pointwise_bytes_vnni::<ROUND_EXACT>(x, m, p, panels, y),
                ROUND_EARLY => pointwise_bytes_vnni::<ROUND_EARLY>(x, m, p, panels, y),
                _ => pointwise_bytes_vnni::<ROUND_EARLY_NO_LEFT>(x, m, p, panels, y),
            }
        };
        return;
    }
    if p.byte_pairs_exact {
        // SAFETY: installed only after avx2 was detected; shapes checked above; K is a
        // multiple of 4 (`byte_pairs_exact`), so every 4-byte group lies inside its row.
        unsafe {
            match p.rounding() {
                ROUND_EXACT => pointwise_bytes_avx2::<ROUND_EXACT>(x, m, p, panels, y),
                ROUND_EARLY => pointwise_bytes_avx2::<ROUND_EARLY>(x, m, p, panels, y),
                _ => pointwise_bytes_avx2::<ROUND_EARLY_NO_LEFT>(x, m, p, panels, y),
            }
        };
        return;
    }
    let pairs = p.pairs();
    let stride = 2 * p.pair_groups();
    WIDE.with_borrow_mut(|wide| {
        wide.resize(MR * stride, 0);
        // SAFETY: installed only after avx2 and fma were detected; the shapes were checked
        // above and `wide` holds MR rows of 2·KP.
        unsafe {
            match p.rounding() {
                ROUND_EXACT => pointwise_avx2::<ROUND_EXACT>(x, m, p, pairs, panels, wide, y),
                ROUND_EARLY => pointwise_avx2::<ROUND_EARLY>(x, m, p, pairs, panels, wide, y),
                _ => pointwise_avx2::<ROUND_EARLY_NO_LEFT>(x, m, p, pairs, panels, wide, y),
            }
        }
    });
}

#[target_feature(enable = "avx2,fma")]
unsafe fn pointwise_avx2<const E: u8>(
    x: &[u8],
    m: usize,
    p: &QPointwise,
    pairs: &PairLayout,
    panels: Range<usize>,
    wide: &mut [i16],
    y: &mut [u8],
) {
    let k = p.k;
    let stride = 2 * p.pair_groups();
    let mut r0 = 0;
    while r0 < m {
        let rows = MR.min(m - r0);
        for r in 0..rows {
            let row = &x[(r0 + r) * k..(r0 + r + 1) * k];
            let dst = &mut wide[r * stride..r * stride + k];
            for (d, &v) in dst.iter_mut().zip(row) {
                *d = v as i16;
            }
        }
        for panel in panels.clone() {
            // A panel of at most 8 columns (the last one of N = 8, 24, …) computes one vector.
            let half = p.n - panel * QNR <= 8;
            macro_rules! go {
                ($($r:literal),*) => {
                    match (rows, half) {
                        // SAFETY: rows r0..r0+R exist; `wide` holds them; `panel` < P.
                        $(($r, false) => unsafe {
                            tile::<$r, 2, E>(wide, stride, r0, p, pairs, panel, y)
                        },
                        ($r, true) => unsafe {
                            tile::<$r, 1, E>(wide, stride, r0, p, pairs, panel, y)
                        },)*
                        _ => unreachable!("tile of {rows} rows"),
                    }
                };
            }
            go!(1, 2, 3, 4, 5, 6)
        }
        r0 += rows;
    }
}

/// One R × 8V tile (one panel, V = 2 vectors, or 1 where the panel has at most 8 columns):
/// `vpmaddwd` over the K pairs of `w − wz`, from the pair layout's column constant (no row
/// term), then the epilogue.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile<const R: usize, const V: usize, const E: u8>(
    wide: &[i16],
    stride: usize,
    r0: usize,
    p: &QPointwise,
    pairs: &PairLayout,
    panel: usize,
    y: &mut [u8],
) {
    let kp = p.pair_groups();
    // SAFETY: AVX2 is enabled; `panel` < P.
    let mut acc = unsafe { start::<R, V>(&pairs.col_const, panel, None) };
    let xp = wide.as_ptr();
    let wp = pairs.w.as_ptr().wrapping_add(panel * kp * QNR * 2);
    // SAFETY: `wide` holds R rows of `stride` = 2·KP i16 (the odd K's last pair reads one
    // stale i16, multiplied by a zero weight); the panel holds KP blocks of 32 i16.
    unsafe {
        for q in 0..kp {
            let b: [__m256i; V] =
                std::array::from_fn(|v| _mm256_loadu_si256(wp.add(q * 32 + 16 * v).cast()));
            for (r, acc) in acc.iter_mut().enumerate() {
                let a =
                    _mm256_set1_epi32((xp.add(r * stride + 2 * q) as *const i32).read_unaligned());
                for (acc, b) in acc.iter_mut().zip(b) {
                    *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(a, b));
                }
            }
        }
        finish::<R, V, E>(&acc, r0, p, panel, None, y);
    }
}

/// Rows per tile of the byte-pair GEMM: 4 rows × 2 vectors = 8 accumulators, 2 weight
/// vectors, the broadcast, the ones and two products in 16 registers.
const MR_BYTES: usize = 4;

/// The GEMM on `vpmaddubsw`, for layers whose weights make it exact
/// ([`QPointwise::byte_pairs_exact`]): each 4-byte group of a row is broadcast straight from
/// the uint8 input (no widening pass) and multiplied with the packed panel's 64-byte group,
/// two vectors of 8 columns × 4 bytes; `vpmaddubsw` sums pairs into i16 and `vpmaddwd` with
/// ones sums those into the i32 accumulators: 32 products per multiply instruction where
/// the i16 path has 16.
#[target_feature(enable = "avx2,fma")]
unsafe fn pointwise_bytes_avx2<const E: u8>(
    x: &[u8],
    m: usize,
    p: &QPointwise,
    panels: Range<usize>,
    y: &mut [u8],
) {
    // SAFETY: forwarded from the caller; AVX2 is enabled here.
    unsafe { bytes_rows::<E, false>(x, m, p, panels, y) }
}

/// [`pointwise_bytes_avx2`] with `vpdpbusd` (AVX-VNNI): exact for any weights, and 6-row tiles
/// (12 accumulators, no products or ones to hold).
#[target_feature(enable = "avx2,fma,avxvnni")]
unsafe fn pointwise_bytes_vnni<const E: u8>(
    x: &[u8],
    m: usize,
    p: &QPointwise,
    panels: Range<usize>,
    y: &mut [u8],
) {
    // SAFETY: forwarded from the caller; AVX2 and AVX-VNNI are enabled here.
    unsafe { bytes_rows::<E, true>(x, m, p, panels, y) }
}

#[inline(always)]
unsafe fn bytes_rows<const E: u8, const VNNI: bool>(
    x: &[u8],
    m: usize,
    p: &QPointwise,
    panels: Range<usize>,
    y: &mut [u8],
) {
    let k = p.k;
    let mut sums = [0i32; MR];
    let mr = if VNNI { MR } else { MR_BYTES };
    let mut r0 = 0;
    while r0 < m {
        let rows = mr.min(m - r0);
        if p.asymmetric {
            for (r, s) in sums.iter_mut().enumerate().take(rows) {
                *s = x[(r0 + r) * k..(r0 + r + 1) * k]
                    .iter()
                    .map(|&v| v as i32)
                    .sum();
            }
        }
        for panel in panels.clone() {
            let half = p.n - panel * QNR <= 8;
            // SAFETY: rows r0..r0+R exist; `panel` < P; K is a multiple of 4.
            unsafe {
                match (rows, half) {
                    (1, false) => tile_bytes::<1, 2, E, VNNI>(x, r0, p, panel, &sums, y),
                    (2, false) => tile_bytes::<2, 2, E, VNNI>(x, r0, p, panel, &sums, y),
                    (3, false) => tile_bytes::<3, 2, E, VNNI>(x, r0, p, panel, &sums, y),
                    (4, false) => tile_bytes::<4, 2, E, VNNI>(x, r0, p, panel, &sums, y),
                    (5, false) => tile_bytes::<5, 2, E, VNNI>(x, r0, p, panel, &sums, y),
                    (_, false) => tile_bytes::<6, 2, E, VNNI>(x, r0, p, panel, &sums, y),
                    (1, true) => tile_bytes::<1, 1, E, VNNI>(x, r0, p, panel, &sums, y),
                    (2, true) => tile_bytes::<2, 1, E, VNNI>(x, r0, p, panel, &sums, y),
                    (3, true) => tile_bytes::<3, 1, E, VNNI>(x, r0, p, panel, &sums, y),
                    (4, true) => tile_bytes::<4, 1, E, VNNI>(x, r0, p, panel, &sums, y),
                    (5, true) => tile_bytes::<5, 1, E, VNNI>(x, r0, p, panel, &sums, y),
                    (_, true) => tile_bytes::<6, 1, E, VNNI>(x, r0, p, panel, &sums, y),
                }
            }
        }
        r0 += rows;
    }
}

/// One R × 8V tile of [`pointwise_bytes_avx2`] (V = 1 where the panel has at most 8 columns),
/// on `vpdpbusd` with `VNNI`.
#[inline(always)]
unsafe fn tile_bytes<const R: usize, const V: usize, const E: u8, const VNNI: bool>(
    x: &[u8],
    r0: usize,
    p: &QPointwise,
    panel: usize,
    sums: &[i32; MR],
    y: &mut [u8],
) {
    let (k, kg) = (p.k, p.groups());
    let row_term = p.asymmetric.then_some(sums);
    // SAFETY: AVX2 is enabled; `panel` < P.
    let mut acc = unsafe { start::<R, V>(&p.col_const, panel, row_term.zip(p.wz_uniform)) };
    // SAFETY: AVX2 is enabled by every caller.
    let ones = unsafe { _mm256_set1_epi16(1) };
    let xp = x.as_ptr().wrapping_add(r0 * k);
    let wp = p.data.as_ptr().wrapping_add(panel * kg * QNR * 4);
    // SAFETY: rows r0..r0+R of `x` hold K = 4·KG bytes each; the panel holds KG groups of 64
    // bytes.
    unsafe {
        for g in 0..kg {
            let b: [__m256i; V] =
                std::array::from_fn(|v| _mm256_loadu_si256(wp.add(g * 64 + 32 * v).cast()));
            for (r, acc) in acc.iter_mut().enumerate() {
                let a = _mm256_set1_epi32((xp.add(r * k + 4 * g) as *const i32).read_unaligned());
                for (acc, b) in acc.iter_mut().zip(b) {
                    *acc = if VNNI {
                        _mm256_dpbusd_avx_epi32(*acc, a, b)
                    } else {
                        let prod = _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones);
                        _mm256_add_epi32(*acc, prod)
                    };
                }
            }
        }
        // Per-column zero points: the row term in the epilogue.
        let per_column = row_term.filter(|_| p.wz_uniform.is_none());
        finish::<R, V, E>(&acc, r0, p, panel, per_column, y);
    }
}

/// A tile's accumulators before the first product: the panel's column constant, less
/// `wz·Σx` of each row where `row` gives the row sums and the one zero point of all columns,
/// so that the epilogue of most layers adds nothing.
#[inline(always)]
unsafe fn start<const R: usize, const V: usize>(
    col_const: &[i32],
    panel: usize,
    row: Option<(&[i32; MR], i32)>,
) -> [[__m256i; V]; R] {
    // SAFETY: the caller guarantees AVX2 and `panel` < P (the per-column vectors are padded
    // to whole panels).
    unsafe {
        let zero = _mm256_setzero_si256();
        let mut cc = [zero; V];
        for (v, cc) in cc.iter_mut().enumerate() {
            *cc = _mm256_loadu_si256(col_const.as_ptr().add(panel * QNR + 8 * v).cast());
        }
        let mut acc = [cc; R];
        if let Some((sums, z)) = row {
            for (acc, &sum) in acc.iter_mut().zip(sums) {
                let row = _mm256_set1_epi32(z.wrapping_mul(sum));
                for a in acc.iter_mut() {
                    *a = _mm256_sub_epi32(*a, row);
                }
            }
        }
        acc
    }
}

/// The GEMM tiles' epilogue (the accumulators started from [`start`]): `− wz·Σx` where
/// `per_column` gives the row sums (per-column weight zero points on the byte-pair path),
/// TFLite's requantization, `+ zp`, clamp, and the store of rows r0..r0+R of the panel's
/// columns.
#[inline(always)]
unsafe fn finish<const R: usize, const V: usize, const E: u8>(
    acc: &[[__m256i; V]; R],
    r0: usize,
    p: &QPointwise,
    panel: usize,
    per_column: Option<&[i32; MR]>,
    y: &mut [u8],
) {
    let n = p.n;
    let sums = per_column.copied().unwrap_or([0; MR]);
    let per_column = per_column.is_some();
    // SAFETY: AVX2 is enabled by every caller; rows r0..r0+R of `y` exist; the per-column
    // vectors are padded to whole panels.
    unsafe {
        let q = &p.out;
        let out = Out::new(q);
        let c0 = panel * QNR;
        if V == 2 && c0 + 16 <= n {
            // A whole panel: both vectors of a row narrowed together into one 16-byte store.
            // (Plain code, no closures: a closure here is compiled without AVX2 and its
            // intrinsics can end up as calls.)
            let (k0, k1) = (Columns::load::<E>(p, c0), Columns::load::<E>(p, c0 + 8));
            // After the two packs each 128-bit half holds (first vector, second vector) ×
            // 4 columns twice; these dwords put columns 0..16 in order.
            let order = _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5);
            for (r, acc) in acc.iter().enumerate() {
                let o0 = out.apply(k0.requant::<E>(acc[0], sums[r], per_column));
                let o1 = out.apply(k1.requant::<E>(acc[V - 1], sums[r], per_column));
                // Saturating to i16, then to u8: the clamp to 0..=255.
                let w = _mm256_packs_epi32(o0, o1);
                let b = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(w, w), order);
                let dst = y.as_mut_ptr().add((r0 + r) * n + c0);
                _mm_storeu_si128(dst.cast(), _mm256_castsi256_si128(b));
            }
            return;
        }
        for v in 0..V {
            let c0 = c0 + v * 8;
            if c0 >= n {
                break;
            }
            let cols = 8.min(n - c0);
            let k = Columns::load::<E>(p, c0);
            for r in 0..R {
                let v = k.requant::<E>(acc[r][v], sums[r], per_column);
                store_u8(y.as_mut_ptr().add((r0 + r) * n + c0), v, out, cols);
            }
        }
    }
}

/// The GEMM epilogue's constants of 8 columns from `c0`: requantization lanes and the weight
/// zero points.
#[derive(Clone, Copy)]
struct Columns {
    lanes: Lanes,
    wz: __m256i,
}

impl Columns {
    #[inline(always)]
    unsafe fn load<const E: u8>(p: &QPointwise, c0: usize) -> Columns {
        // SAFETY: the caller guarantees AVX2 and that the per-column vectors, padded to whole
        // panels, hold 8 entries from `c0`.
        unsafe {
            Columns {
                lanes: Lanes::prepared::<E>(p.lanes.as_ptr().add(c0 / 8 * REQUANT_LANES)),
                wz: _mm256_loadu_si256(p.wz_padded.as_ptr().add(c0).cast()),
            }
        }
    }

    /// `acc` (`− wz·Σx` for per-column weight zero points, `sum` = Σx of the row),
    /// requantized; before `+ zp` and the clamp.
    #[inline(always)]
    unsafe fn requant<const E: u8>(self, acc: __m256i, sum: i32, per_column: bool) -> __m256i {
        // SAFETY: AVX2 is enabled by every caller.
        unsafe {
            let mut a = acc;
            if per_column {
                let s = _mm256_set1_epi32(sum);
                a = _mm256_sub_epi32(a, _mm256_mullo_epi32(self.wz, s));
            }
            requant::<E>(a, self.lanes)
        }
    }
}

/// `n ≤ 8` bytes at `x`, zero-extended into i32 lanes (lanes past `n` are zero).
#[inline(always)]
unsafe fn load_u8(x: *const u8, n: usize) -> __m256i {
    // SAFETY: the caller guarantees `n` readable bytes at `x` and AVX2.
    unsafe {
        if n == 8 {
            return _mm256_cvtepu8_epi32(_mm_loadl_epi64(x.cast()));
        }
        // Piecewise, without a `memcpy` call (see `store_u8`).
        let mut v = 0u64;
        let mut at = 0;
        for piece in [4, 2, 1] {
            if n & piece != 0 {
                let bits = match piece {
                    4 => (x.add(at) as *const u32).read_unaligned() as u64,
                    2 => (x.add(at) as *const u16).read_unaligned() as u64,
                    _ => x.add(at).read() as u64,
                };
                v |= bits << (8 * at);
                at += piece;
            }
        }
        _mm256_cvtepu8_epi32(_mm_cvtsi64_si128(v as i64))
    }
}

/// The shape checks every SIMD depthwise entry makes before its unsafe kernels.
pub(super) fn check_dwconv3x3(
    args: &DwArgs,
    x: &[u8],
    p: &QDepthwise,
    rows: &Range<usize>,
    y: &[u8],
) {
    assert_eq!(p.c, args.c, "q8 dwconv3x3: layer channels");
    args.check(x.len(), p.w.len(), p.bias.len(), rows, y.len());
    let cp = p.padded_channels();
    assert!(
        cp >= args.c.div_ceil(8) * 8 && p.taps.len() == 9 * cp && p.multiplier.len() == cp,
        "q8 dwconv3x3: padding"
    );
}

fn dwconv3x3(args: &DwArgs, x: &[u8], p: &QDepthwise, rows: Range<usize>, y: &mut [u8]) {
    check_dwconv3x3(args, x, p, &rows, y);
    // SAFETY: installed only after avx2 was detected; lengths checked, and the per-channel
    // vectors are padded to whole vectors.
    unsafe {
        match p.rounding() {
            ROUND_EXACT => {
                dwconv3x3_blocks_avx2::<ROUND_EXACT>(args, x, p, rows.clone(), y, 0, None);
                dwconv3x3_avx2::<ROUND_EXACT>(args, x, p, rows, y);
            }
            ROUND_EARLY => {
                dwconv3x3_blocks_avx2::<ROUND_EARLY>(args, x, p, rows.clone(), y, 0, None);
                dwconv3x3_avx2::<ROUND_EARLY>(args, x, p, rows, y);
            }
            _ => {
                dwconv3x3_blocks_avx2::<ROUND_EARLY_NO_LEFT>(args, x, p, rows.clone(), y, 0, None);
                dwconv3x3_avx2::<ROUND_EARLY_NO_LEFT>(args, x, p, rows, y);
            }
        }
    }
}

/// One output pixel of one [`QDW_BLOCK`]-channel block from its nine input vectors (`tap(t)`,
/// 32 bytes each): each pair of taps is interleaved byte by byte (`vpunpck{l,h}bw`), widened
/// to i16 pairs by unpacking with zero, and multiplied by the prepared weight pairs with
/// `vpmaddwd`, so that one instruction sums two taps of 8 channels; no cross-lane widening
/// (whose `vpmovzxbd` limits the 8-channel path). The four accumulators hold the channels in
/// [`crate::qdepthwise::block_channel`] order, which the two narrowing packs put back.
#[inline(always)]
unsafe fn block_pixel<const E: u8>(
    tap: impl Fn(usize) -> __m256i,
    pairs: *const i16,
    lanes: *const i32,
    out: *mut u8,
    step: Out,
) {
    // SAFETY: the caller guarantees the prepared block at `pairs`/`lanes`, 32 writable bytes
    // at `out`, and AVX2.
    unsafe {
        let zero = _mm256_setzero_si256();
        // Loops over arrays rather than `from_fn` closures: a closure in this helper (which
        // has no target features of its own) can compile its intrinsics as calls.
        let mut acc = [zero; 4];
        for (j, acc) in acc.iter_mut().enumerate() {
            *acc = _mm256_loadu_si256(lanes.add(j * QDW_LANE_PARAMS).cast());
        }
        for q in 0..QDW_PAIRS {
            let a = tap(2 * q);
            let b = if 2 * q + 1 < 9 { tap(2 * q + 1) } else { zero };
            let ab = [_mm256_unpacklo_epi8(a, b), _mm256_unpackhi_epi8(a, b)];
            for (j, acc) in acc.iter_mut().enumerate() {
                let h = ab[j / 2];
                let v = if j % 2 == 0 {
                    _mm256_unpacklo_epi8(h, zero)
                } else {
                    _mm256_unpackhi_epi8(h, zero)
                };
                let w = _mm256_loadu_si256(pairs.add((q * 4 + j) * 16).cast());
                *acc = _mm256_add_epi32(*acc, _mm256_madd_epi16(v, w));
            }
        }
        let mut r = [zero; 4];
        for (j, r) in r.iter_mut().enumerate() {
            let v = requant::<E>(
                acc[j],
                Lanes::prepared::<E>(lanes.add(j * QDW_LANE_PARAMS + 8)),
            );
            *r = step.apply(v);
        }
        // Saturating to i16, then to u8: the clamp to 0..=255.
        let bytes = _mm256_packus_epi16(
            _mm256_packs_epi32(r[0], r[1]),
            _mm256_packs_epi32(r[2], r[3]),
        );
        _mm256_storeu_si256(out.cast(), bytes);
    }
}

/// The columns of the output row whose windows start at input row `iy0`: the border ones
/// (whose windows may leave the image: left and right of `interior`, or every column when the
/// window leaves the image vertically) and the interior, each column in exactly one.
pub(super) fn row_columns(
    g: &Conv2dGeometry,
    iy0: isize,
    interior: &Range<usize>,
) -> (impl Iterator<Item = usize>, Range<usize>) {
    let ow = g.out_w();
    let rows_in = iy0 >= 0 && iy0 + 2 < g.in_h as isize;
    let (lo, hi) = if rows_in {
        (interior.start.min(ow), interior.end.min(ow))
    } else {
        (ow, ow)
    };
    let hi = hi.max(lo);
    ((0..lo).chain(hi..ow), lo..hi)
}

/// The whole [`QDW_BLOCK`]-channel blocks from `first_block` on of rows `rows` (see
/// [`block_pixel`]); or, for a stride-1 layer of fewer channels, the whole groups of interior
/// pixels in the packed layout ([`QDepthwise::packed_blocks`]). The AVX-512 kernel runs the
/// blocks before `first_block` itself, and, where `wide_group` is given (a stride-1 layer of at
/// most 32 channels), each row's first interior pixels in whole groups of that many.
///
/// # Safety
/// The CPU runs AVX2; the caller checked the shapes as [`dwconv3x3`] does.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dwconv3x3_blocks_avx2<const E: u8>(
    args: &DwArgs,
    x: &[u8],
    p: &QDepthwise,
    rows: Range<usize>,
    y: &mut [u8],
    first_block: usize,
    wide_group: Option<usize>,
) {
    let g = &args.geom;
    let c = args.c;
    let (ih, iw) = (g.in_h as isize, g.in_w as isize);
    let s = g.stride;
    let ow = g.out_w();
    // SAFETY: AVX2 is enabled.
    let out = unsafe { Out::new(&p.out) };
    let xz = _mm256_set1_epi8(p.x_zero_point as u8 as i8);
    let interior = g.interior_cols();
    let row_step = g.in_w * c;
    // SAFETY: as in `dwconv3x3_avx2`; every whole block is 32 channels, so 32-byte loads and
    // stores stay inside their pixel; a packed group's blocks load, for each tap, the bytes of
    // the group's pixels' taps (all inside the image: interior columns) and store its pixels.
    unsafe {
        for b in first_block..c / QDW_BLOCK {
            let c0 = b * QDW_BLOCK;
            let pairs = p.pairs.as_ptr().add(b * QDW_PAIRS * 64);
            let lanes = p.block_lanes.as_ptr().add(b * 4 * QDW_LANE_PARAMS);
            let xc = x.as_ptr().add(c0);
            for (r, oy) in rows.clone().enumerate() {
                let iy0 = (oy * s) as isize - g.pad.top as isize;
                let yrow = y.as_mut_ptr().add(r * ow * c + c0);
                let (border, mut inner) = row_columns(g, iy0, &interior);
                if let Some(gw) = wide_group {
                    inner.start += inner.len() / gw * gw;
                }
                for ox in border {
                    let ix0 = (ox * s) as isize - g.pad.left as isize;
                    let tap = |t: usize| {
                        let (iy, ix) = (iy0 + (t / 3) as isize, ix0 + (t % 3) as isize);
                        if (0..ih).contains(&iy) && (0..iw).contains(&ix) {
                            _mm256_loadu_si256(xc.offset((iy * iw + ix) * c as isize).cast())
                        } else {
                            xz
                        }
                    };
                    block_pixel::<E>(tap, pairs, lanes, yrow.add(ox * c), out);
                }
                if inner.is_empty() {
                    continue;
                }
                let row0 = xc.offset(iy0 * iw * c as isize);
                for ox in inner {
                    let px = row0.add((ox * s - g.pad.left) * c);
                    let tap = |t: usize| {
                        _mm256_loadu_si256(px.add((t / 3) * row_step + (t % 3) * c).cast())
                    };
                    block_pixel::<E>(tap, pairs, lanes, yrow.add(ox * c), out);
                }
            }
        }
        let Some(group) = packed_group(p, g) else {
            return;
        };
        // Packed: groups of `group` interior pixels as `packed_blocks` blocks of 32 bytes;
        // block b of a group starts 32·b bytes after its first pixel, and its tap (kh, kw)
        // lies kh rows and kw pixels (kw·C bytes) from the window's corner.
        for (r, oy) in rows.enumerate() {
            let iy0 = oy as isize - g.pad.top as isize;
            let (_, mut inner) = row_columns(g, iy0, &interior);
            if let Some(gw) = wide_group {
                inner.start += inner.len() / gw * gw;
            }
            let yrow = y.as_mut_ptr().add(r * ow * c);
            for g0 in (0..inner.len() / group).map(|i| inner.start + i * group) {
                let corner = x
                    .as_ptr()
                    .offset(iy0 * iw * c as isize)
                    .add((g0 - g.pad.left) * c);
                for b in 0..p.packed_blocks {
                    let px = corner.add(b * QDW_BLOCK);
                    let tap = |t: usize| {
                        _mm256_loadu_si256(px.add((t / 3) * row_step + (t % 3) * c).cast())
                    };
                    let pairs = p.pairs.as_ptr().add(b * QDW_PAIRS * 64);
                    let lanes = p.block_lanes.as_ptr().add(b * 4 * QDW_LANE_PARAMS);
                    block_pixel::<E>(tap, pairs, lanes, yrow.add(g0 * c + b * QDW_BLOCK), out);
                }
            }
        }
    }
}

/// Pixels per group of the packed layout ([`QDepthwise::packed_blocks`]) when this layer runs
/// on it: fewer than 32 channels and stride 1.
fn packed_group(p: &QDepthwise, g: &Conv2dGeometry) -> Option<usize> {
    p.packed_group().filter(|_| g.stride == 1)
}

/// Depthwise 3×3 on the channels after the whole [`QDW_BLOCK`] blocks, 8 at a time, straight from uint8 to uint8: each tap's 8 bytes
/// are widened to i32 lanes and multiplied by `w − wz` with `vpmaddwd` (the widened input's
/// upper 16 bits are zero, so each lane is one exact 16 × 16-bit product), a padded tap reads
/// the input zero point instead, and the sum starts from the folded bias
/// ([`QDepthwise`]'s algebra); then TFLite's requantization, `+ zp`, clamp and a narrowing
/// store. The weights, bias and requantization lanes of a channel block stay in registers
/// over the whole band of rows.
///
/// # Safety
/// The CPU runs AVX2; the caller checked the shapes as [`dwconv3x3`] does.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn dwconv3x3_avx2<const E: u8>(
    args: &DwArgs,
    x: &[u8],
    p: &QDepthwise,
    rows: Range<usize>,
    y: &mut [u8],
) {
    let g = &args.geom;
    let c = args.c;
    let cp = p.padded_channels();
    let (ih, iw) = (g.in_h as isize, g.in_w as isize);
    let s = g.stride;
    let ow = g.out_w();
    // SAFETY: AVX2 is enabled.
    let out = unsafe { Out::new(&p.out) };
    let xz = _mm256_set1_epi32(p.x_zero_point);
    let interior = g.interior_cols();
    let packed = packed_group(p, g);
    // SAFETY: every input read is a pixel inside the image (checked per tap at the borders,
    // by `row_columns`' interior inside), `len` bytes from channel c0; every output write is inside
    // row r of `y`; the per-channel vectors are padded to whole vectors.
    unsafe {
        for c0 in (c / QDW_BLOCK * QDW_BLOCK..c).step_by(8) {
            let len = 8.min(c - c0);
            let prepared = Requant::lanes(std::array::from_fn(|l| Requant {
                multiplier: p.multiplier[c0 + l],
                shift: p.shift[c0 + l],
            }));
            let lanes = Lanes::prepared::<E>(prepared.as_ptr());
            let bias = _mm256_loadu_si256(p.bias_folded.as_ptr().add(c0).cast());
            let mut w = [_mm256_setzero_si256(); 9];
            for (t, w) in w.iter_mut().enumerate() {
                *w = _mm256_loadu_si256(p.taps.as_ptr().add(t * cp + c0).cast());
            }
            let xc = x.as_ptr().add(c0);
            for (r, oy) in rows.clone().enumerate() {
                let iy0 = (oy * s) as isize - g.pad.top as isize;
                let yrow = y.as_mut_ptr().add(r * ow * c + c0);
                let border = |ox: usize| {
                    let ix0 = (ox * s) as isize - g.pad.left as isize;
                    let mut acc = bias;
                    for kh in 0..3 {
                        let iy = iy0 + kh as isize;
                        for kw in 0..3 {
                            let ix = ix0 + kw as isize;
                            let v = if (0..ih).contains(&iy) && (0..iw).contains(&ix) {
                                load_u8(xc.offset((iy * iw + ix) * c as isize), len)
                            } else {
                                xz
                            };
                            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v, w[kh * 3 + kw]));
                        }
                    }
                    acc
                };
                let (border_cols, mut inner) = row_columns(g, iy0, &interior);
                // The packed path's whole groups are done.
                if let Some(group) = packed {
                    inner.start += inner.len() / group * group;
                }
                for ox in border_cols {
                    store_u8(yrow.add(ox * c), requant::<E>(border(ox), lanes), out, len);
                }
                if inner.is_empty() {
                    continue;
                }
                let row0 = xc.offset(iy0 * iw * c as isize);
                let row_step = g.in_w * c;
                for ox in inner {
                    let px = row0.add((ox * s - g.pad.left) * c);
                    let mut acc = bias;
                    for kh in 0..3 {
                        let pr = px.add(kh * row_step);
                        for kw in 0..3 {
                            let v = load_u8(pr.add(kw * c), len);
                            acc = _mm256_add_epi32(acc, _mm256_madd_epi16(v, w[kh * 3 + kw]));
                        }
                    }
                    store_u8(yrow.add(ox * c), requant::<E>(acc, lanes), out, len);
                }
            }
        }
    }
}

fn quantize(x: &[f32], scale: f32, zp: i32, y: &mut [u8]) {
    assert_eq!(x.len(), y.len(), "q8 quantize: lengths");
    // SAFETY: installed only after avx2 was detected; lengths checked.
    unsafe { quantize_avx2(x, scale, zp, y) }
}

/// The reference's rounding, exactly, 8 lanes at a time: `t = x / scale` (the same f32
/// division), NaN → 0, clamped to ±512 (beyond, every zero point saturates alike), then
/// `trunc(t)` plus one step away from zero where `|t − trunc(t)| ≥ 0.5` (the difference is
/// exact), which is rounding halves away from zero without the inexact `t ± 0.5`.
#[target_feature(enable = "avx2,fma")]
unsafe fn quantize_avx2(x: &[f32], scale: f32, zp: i32, y: &mut [u8]) {
    let s = _mm256_set1_ps(scale);
    let lim = _mm256_set1_ps(512.0);
    let neg_lim = _mm256_set1_ps(-512.0);
    let half = _mm256_set1_ps(0.5);
    let one = _mm256_set1_ps(1.0);
    let sign = _mm256_set1_ps(-0.0);
    // `+ zp`; the packs clamp to 0..=255.
    let out = Out {
        zp: _mm256_set1_epi32(zp),
        lo: _mm256_setzero_si256(),
        hi: _mm256_set1_epi32(255),
        clamp: false,
    };
    let n = x.len();
    // SAFETY: each access is inside x / y: whole vectors below `n / 8 · 8`, then a masked
    // load and a store of the remaining `n % 8` bytes.
    unsafe {
        let mut i = 0;
        while i < n {
            let len = 8.min(n - i);
            let v = if len == 8 {
                _mm256_loadu_ps(x.as_ptr().add(i))
            } else {
                let lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(len as i32), lanes);
                _mm256_maskload_ps(x.as_ptr().add(i), mask)
            };
            let t = _mm256_div_ps(v, s);
            let t = _mm256_and_ps(t, _mm256_cmp_ps::<_CMP_ORD_Q>(t, t));
            let t = _mm256_min_ps(_mm256_max_ps(t, neg_lim), lim);
            let whole = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(t);
            let frac = _mm256_andnot_ps(sign, _mm256_sub_ps(t, whole));
            let up = _mm256_cmp_ps::<_CMP_GE_OQ>(frac, half);
            let step = _mm256_and_ps(up, _mm256_or_ps(one, _mm256_and_ps(t, sign)));
            let q = _mm256_cvttps_epi32(_mm256_add_ps(whole, step));
            store_u8(y.as_mut_ptr().add(i), q, out, len);
            i += 8;
        }
    }
}
