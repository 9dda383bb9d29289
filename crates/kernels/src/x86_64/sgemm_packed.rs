//! Pointwise convolution / fully connected GEMM on weights packed once at model load
//! (`crate::packed`): `y = clamp(x · w + b)`, written once against [`Simd`] and instantiated
//! for AVX-512 (6 × 64 tiles over pairs of panels, 14 × 32 for a last odd panel) and AVX2
//! (6 × 16 tiles).
//!
//! Legend: M = rows, K = reduction, N = output columns, NR = 32 columns per weight panel,
//! MR × TW = the register tile (rows × columns), L = lanes.
//!
//! The microkernel is the BLIS/GotoBLAS one without packing `x`: MR rows of `x` are read in
//! place, one element per row and `k` broadcast from memory (`vbroadcastss`/embedded
//! broadcast), against TW = NV·L columns of packed weights (NV vector loads per `k`); MR·NV
//! accumulators stay in registers for the whole reduction. AVX-512: 6 × 4 zmm = 24
//! accumulators + 4 weight vectors + 1 broadcast, the 4 vectors taken from two adjacent
//! panels (K·NR f32 apart): 10 loads per 24 FMAs instead of 16 per 28 with one panel of
//! 14 × 2, each `x` element is broadcast once for 64 columns, and the epilogue writes whole
//! 256-byte output rows; a last odd panel runs 14 × 2. AVX2: 6 × 2 ymm = 12 + 2 + 1
//! broadcast; a 32-column panel is two 16-column tiles. The epilogue adds the bias, clamps and
//! stores, masking the N tail (panels are zero-padded, so weight loads are never masked). The
//! M tail runs a tile with fewer rows (const-generic MR), and row tiles are balanced (49 rows
//! = 13 + 12 + 12 + 12 at MR = 14).
//!
//! Loop order: blocks of rows whose `x` fits in about [`X_BLOCK_BYTES`] (kept in L2) →
//! panel pairs (then panels) → row tiles. Each panel pair (2·K·NR·4 bytes, ≤ 256 KiB at
//! K = 1024) is reused by every row tile of the block, and `w` is streamed once per row block.

use std::ops::Range;

use super::simd::{Simd, VClamp};
use crate::gemm::MatMut;
use crate::geometry::Clamp;
use crate::packed::{PackedWeights, NR};

/// Bytes of `x` one row block may take: it stays in L2 while every panel passes over it.
const X_BLOCK_BYTES: usize = 256 << 10;

/// One MR × (NV·L) tile: `y[r + i][yc + j] = clamp(Σ_k x[i][k] · w[k][j] + b[j])` for
/// `i < MR`, `j < live`.
///
/// Vector `v` of the tile's columns is read from panel `v·L / NR` after `w` (panels are
/// `pstride` = K·NR f32 apart), so a tile wider than one panel spans adjacent panels.
///
/// Safety: runs with S's features; `x` addresses MR rows of K readable f32 at stride K; for
/// each `v < NV`, `w + (v·L / NR)·pstride + (v·L) % NR` addresses K rows of L readable f32 at
/// stride NR; `b` has `live` readable f32; `1 <= live <= NV·L`; rows `r .. r + MR` of `y` exist
/// and have `yc + live` columns.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<S: Simd, const MR: usize, const NV: usize>(
    x: *const f32,
    k: usize,
    w: *const f32,
    pstride: usize,
    b: *const f32,
    live: usize,
    clamp: VClamp<S>,
    y: &mut MatMut<'_>,
    r: usize,
    yc: usize,
) {
    // SAFETY: features and pointer ranges are the caller's contract (above); every load
    // below is at `x + i·K + kk` (i < MR, kk < K) or `w + off[v] + kk·NR` (v < NV), and every
    // store at lanes `< live` of row `r + i`, columns `yc ..`.
    unsafe {
        // Accumulators start at the bias (one load per vector; lanes past `live` read zero).
        let mut bias = [S::splat(0.0); NV];
        for (v, bv) in bias.iter_mut().enumerate() {
            let lo = v * S::LANES;
            *bv = if lo >= live {
                S::splat(0.0)
            } else if live - lo >= S::LANES {
                S::load(b.add(lo))
            } else {
                S::load_m(b.add(lo), S::mask(live - lo))
            };
        }
        let mut acc = [bias; MR];
        let mut wp = [w; NV];
        for (v, wp) in wp.iter_mut().enumerate() {
            let c = v * S::LANES;
            *wp = w.add(c / NR * pstride + c % NR);
        }
        for kk in 0..k {
            let mut wv = [S::splat(0.0); NV];
            for (v, wv) in wv.iter_mut().enumerate() {
                *wv = S::load(wp[v].add(kk * NR));
            }
            for (i, acc) in acc.iter_mut().enumerate() {
                let a = S::bcast(x.add(i * k + kk));
                for v in 0..NV {
                    acc[v] = S::fmadd(a, wv[v], acc[v]);
                }
            }
        }
        for (i, acc) in acc.iter().enumerate() {
            let yr = y.row_mut(r + i)[yc..yc + live].as_mut_ptr();
            for (v, &av) in acc.iter().enumerate() {
                let lo = v * S::LANES;
                if lo >= live {
                    break;
                }
                if live - lo >= S::LANES {
                    S::store(yr.add(lo), clamp.apply(av));
                } else {
                    S::store_m(yr.add(lo), S::mask(live - lo), clamp.apply(av));
                }
            }
        }
    }
}

/// [`tile`] with `h` rows, `1 <= h <= 14`, picked at run time. Same contract with MR = h.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile_rows<S: Simd, const NV: usize>(
    h: usize,
    x: *const f32,
    k: usize,
    w: *const f32,
    pstride: usize,
    b: *const f32,
    live: usize,
    clamp: VClamp<S>,
    y: &mut MatMut<'_>,
    r: usize,
    yc: usize,
) {
    // SAFETY: the caller's contract holds for MR = h, which is what each arm instantiates.
    unsafe {
        match h {
            1 => tile::<S, 1, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            2 => tile::<S, 2, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            3 => tile::<S, 3, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            4 => tile::<S, 4, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            5 => tile::<S, 5, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            6 => tile::<S, 6, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            7 => tile::<S, 7, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            8 => tile::<S, 8, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            9 => tile::<S, 9, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            10 => tile::<S, 10, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            11 => tile::<S, 11, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            12 => tile::<S, 12, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            13 => tile::<S, 13, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            14 => tile::<S, 14, NV>(x, k, w, pstride, b, live, clamp, y, r, yc),
            _ => unreachable!("tile_rows: {h} rows"),
        }
    }
}

/// The whole `Kernels::pointwise_packed` contract: pairs of panels as MR2-row tiles of NV2
/// vectors (NV2·L = 2·NR), then a last odd panel (or, with NV2 = 0, every panel) as MR-row
/// tiles of NV vectors.
///
/// Safety: runs with S's features; `MR, MR2 <= 14`; `NV·L` divides NR; NV2 = 0 or
/// `NV2·L = 2·NR`.
#[inline(always)]
pub(super) unsafe fn forward<
    S: Simd,
    const MR: usize,
    const NV: usize,
    const MR2: usize,
    const NV2: usize,
>(
    x: &[f32],
    w: &PackedWeights,
    b: &[f32],
    clamp: Clamp,
    panels: Range<usize>,
    mut y: MatMut<'_>,
) {
    let (m, k) = (y.rows(), w.k);
    let cols = w.cols(panels.clone());
    assert_eq!(w.nr, NR, "pointwise_packed: panel width");
    assert_eq!(w.data.len(), w.panels() * k * NR, "pointwise_packed: w len");
    assert!(
        panels.end <= w.panels(),
        "pointwise_packed: panels {panels:?}"
    );
    assert_eq!(x.len(), m * k, "pointwise_packed: x len");
    assert_eq!(b.len(), w.n, "pointwise_packed: b len");
    assert_eq!(y.cols(), cols.len(), "pointwise_packed: y cols");
    if m == 0 || cols.is_empty() {
        return;
    }
    let tw = NV * S::LANES;
    // SAFETY: the caller runs with S's features.
    let vc = unsafe { VClamp::<S>::new(clamp) };
    let block = (X_BLOCK_BYTES / (4 * k.max(1)) / MR * MR).max(MR);
    let mut r0 = 0;
    while r0 < m {
        let r1 = (r0 + block).min(m);
        let mut p0 = panels.start;
        if NV2 > 0 {
            let tiles = (r1 - r0).div_ceil(MR2);
            let (base, extra) = ((r1 - r0) / tiles, (r1 - r0) % tiles);
            while p0 + 1 < panels.end {
                let col = p0 * NR;
                let live = (2 * NR).min(w.n - col);
                let wp = w.panel(p0).as_ptr();
                let mut r = r0;
                for ti in 0..tiles {
                    let h = base + usize::from(ti < extra);
                    // SAFETY: as below, with both panels p0 and p0 + 1 < P inside w.data
                    // (K·NR apart) and live ≤ 2·NR = NV2·L columns of b and y.
                    unsafe {
                        tile_rows::<S, NV2>(
                            h,
                            x.as_ptr().add(r * k),
                            k,
                            wp,
                            k * NR,
                            b.as_ptr().add(col),
                            live,
                            vc,
                            &mut y,
                            r,
                            col - cols.start,
                        );
                    }
                    r += h;
                }
                p0 += 2;
            }
        }
        let tiles = (r1 - r0).div_ceil(MR);
        let (base, extra) = ((r1 - r0) / tiles, (r1 - r0) % tiles);
        for p in p0..panels.end {
            let wp = w.panel(p).as_ptr();
            for t in 0..NR / tw {
                let col = p * NR + t * tw;
                if col >= w.n {
                    break;
                }
                let live = tw.min(w.n - col);
                let mut r = r0;
                for ti in 0..tiles {
                    let h = base + usize::from(ti < extra);
                    // SAFETY: rows r .. r + h < m of x (len m·K) are readable; the panel is
                    // (K, NR) and columns t·TW .. t·TW + TW ≤ NR are in it; b[col .. col +
                    // live] is inside b (len N, col + live ≤ N); y has rows r .. r + h and
                    // columns col − cols.start + live ≤ cols.len(); 1 ≤ h ≤ MR ≤ 14.
                    unsafe {
                        tile_rows::<S, NV>(
                            h,
                            x.as_ptr().add(r * k),
                            k,
                            wp.add(t * tw),
                            k * NR,
                            b.as_ptr().add(col),
                            live,
                            vc,
                            &mut y,
                            r,
                            col - cols.start,
                        );
                    }
                    r += h;
                }
            }
        }
        r0 = r1;
    }
}
