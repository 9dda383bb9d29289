//! Dense 3×3 convolution (HWIO weights), vectorized over output channels, written once for any
//! [`Simd`] and instantiated by `avx2.rs` / `avx512.rs`. Computes what
//! `reference::conv3x3::forward` computes (same tap set; summation order differs).
//!
//! Legend: H, W = input, OW = output width, Cin, Cout = channels, L = lanes, s = stride.
//!
//! This is a GEMM microkernel with the im2col done by address arithmetic: a tile of `P`
//! adjacent output pixels × `NV` vectors of output channels lives in `P·NV` accumulators; for
//! every tap (kh, kw, ci) it loads `NV` weight vectors (one row of `w`, contiguous over Cout)
//! and broadcasts `P` input scalars. For the stem (Cin = 3, Cout = 32) that is 27 taps of
//! `P·NV` FMAs per tile. Kernel rows in the padding are skipped per output row; tiles whose
//! horizontal taps would leave the image fall back to single pixels with per-column checks.

use std::ops::Range;

use super::simd::{Simd, VClamp};
use crate::geometry::{Clamp, ConvArgs};

/// x: (H, W, Cin), w: (3, 3, Cin, Cout), b: (Cout), y: (rows.len(), OW, Cout).
/// `P` = output pixels per interior tile (register blocking; `P·2 + 3` vector registers).
///
/// # Safety
/// Must run with `S`'s CPU features enabled. Slice lengths are checked here.
#[inline(always)]
pub(super) unsafe fn forward<S: Simd, const P: usize>(
    args: &ConvArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
) {
    let g = &args.geom;
    let (cin, cout) = (args.cin, args.cout);
    let ow = g.out_w();
    args.check(x.len(), w.len(), b.len(), &rows, y.len());
    if cout == 0 || rows.is_empty() {
        return;
    }
    let (s, pt, pl) = (g.stride, g.pad.top as isize, g.pad.left as isize);
    let Range {
        start: ox_lo,
        end: ox_hi,
    } = g.interior_cols();
    let l = S::LANES;
    // SAFETY (whole block): the caller guarantees S's features. `Tile::run` reads only taps
    // whose row lies in [kh0, kh1) (inside the image by construction) and whose column lies in
    // [kw0, kw1) (inside the image: interior tiles by the ox_lo/ox_hi bounds, single pixels by
    // their own column range); weight/bias/output channel offsets stay below Cout (masked tail).
    unsafe {
        let vc = VClamp::<S>::new(clamp);
        for (r, oy) in rows.enumerate() {
            let iy0 = (oy * s) as isize - pt;
            let kh0 = (-iy0).clamp(0, 3) as usize;
            let kh1 = (g.in_h as isize - iy0).clamp(0, 3) as usize;
            let mut co0 = 0;
            while co0 < cout {
                let left = cout - co0;
                // Full 2-vector blocks, then a (possibly partial) 2- or 1-vector block.
                let (nv2, tail) = if left >= 2 * l {
                    (true, false)
                } else if left > l {
                    (true, true)
                } else {
                    (false, left < l)
                };
                let t = Tile {
                    x: x.as_ptr(),
                    w: w.as_ptr().add(co0),
                    b: b.as_ptr().add(co0),
                    y: y.as_mut_ptr().add(r * ow * cout + co0),
                    in_w: g.in_w,
                    cin,
                    cout,
                    s,
                    iy0,
                    kh: kh0..kh1.max(kh0),
                    left,
                    vc,
                };
                match (nv2, tail) {
                    (true, false) => row::<S, P, 2, false>(&t, ow, ox_lo, ox_hi, pl),
                    (true, true) => row::<S, P, 2, true>(&t, ow, ox_lo, ox_hi, pl),
                    (false, false) => row::<S, P, 1, false>(&t, ow, ox_lo, ox_hi, pl),
                    (false, true) => row::<S, P, 1, true>(&t, ow, ox_lo, ox_hi, pl),
                }
                co0 += if nv2 { 2 * l } else { l };
            }
        }
    }
}

/// Everything one output row × output-channel block needs. Pointers are already offset to the
/// block's first output channel `co0`; `left = Cout − co0`.
struct Tile<S: Simd> {
    x: *const f32,
    w: *const f32,
    b: *const f32,
    y: *mut f32,
    in_w: usize,
    cin: usize,
    cout: usize,
    s: usize,
    /// Input row of kernel row 0 (may be negative).
    iy0: isize,
    /// Kernel rows inside the image.
    kh: Range<usize>,
    left: usize,
    vc: VClamp<S>,
}

/// One output row for one channel block: interior tiles of `P` pixels, then single pixels.
#[inline(always)]
unsafe fn row<S: Simd, const P: usize, const NV: usize, const TAIL: bool>(
    t: &Tile<S>,
    ow: usize,
    ox_lo: usize,
    ox_hi: usize,
    pl: isize,
) {
    // SAFETY: forwarded from `forward`.
    unsafe {
        let mut ox = 0;
        while ox < ow {
            let ix0 = (ox * t.s) as isize - pl;
            if ox >= ox_lo && ox + P <= ox_hi {
                pixels::<S, P, NV, TAIL>(t, ox, ix0, 0..3);
                ox += P;
            } else {
                let kw0 = (-ix0).clamp(0, 3) as usize;
                let kw1 = (t.in_w as isize - ix0).clamp(0, 3) as usize;
                pixels::<S, 1, NV, TAIL>(t, ox, ix0, kw0..kw1.max(kw0));
                ox += 1;
            }
        }
    }
}

/// Output pixels `[ox, ox + Q)` of the row, for kernel columns `kw` (inside the image for all
/// `Q` pixels) and kernel rows `t.kh`. `ix0` = input column of tap kw = 0 of pixel `ox`.
#[inline(always)]
unsafe fn pixels<S: Simd, const Q: usize, const NV: usize, const TAIL: bool>(
    t: &Tile<S>,
    ox: usize,
    ix0: isize,
    kw: Range<usize>,
) {
    let l = S::LANES;
    // SAFETY: forwarded from `forward`; tap (kh, kw) of pixel j reads input element
    // ((iy0 + kh)·W + ix0 + j·s + kw)·Cin + ci, inside the image for the ranges given.
    unsafe {
        let mut m = [S::mask(l); NV];
        if TAIL {
            for v in 0..NV {
                m[v] = S::mask(t.left.saturating_sub(v * l).min(l));
            }
        }
        let mut acc = [[S::splat(0.0); NV]; Q];
        for v in 0..NV {
            let bv = ldm::<S, TAIL>(t.b.add(v * l), m[v]);
            for j in 0..Q {
                acc[j][v] = bv;
            }
        }
        let xstep = t.s * t.cin;
        // The kernel columns of a row are adjacent in both x (pixel-major, then channels) and
        // w (HWIO): `kw` × Cin consecutive taps, one loop instead of two (Cin = 3 alone
        // leaves a 3-step loop whose overhead is a third of its work).
        let run = kw.len() * t.cin;
        for kh in t.kh.clone() {
            let iy = (t.iy0 + kh as isize) as usize;
            {
                let ix = (ix0 + kw.start as isize) as usize;
                let mut xp = t.x.add((iy * t.in_w + ix) * t.cin);
                let mut wp = t.w.add((kh * 3 + kw.start) * t.cin * t.cout);
                for _ in 0..run {
                    let mut wv = [S::splat(0.0); NV];
                    for v in 0..NV {
                        wv[v] = ldm::<S, TAIL>(wp.add(v * l), m[v]);
                    }
                    for j in 0..Q {
                        let xv = S::bcast(xp.add(j * xstep));
                        for v in 0..NV {
                            acc[j][v] = S::fmadd(xv, wv[v], acc[j][v]);
                        }
                    }
                    xp = xp.add(1);
                    wp = wp.add(t.cout);
                }
            }
        }
        for j in 0..Q {
            let yp = t.y.add((ox + j) * t.cout);
            for v in 0..NV {
                let r = t.vc.apply(acc[j][v]);
                if TAIL {
                    S::store_m(yp.add(v * l), m[v], r);
                } else {
                    S::store(yp.add(v * l), r);
                }
            }
        }
    }
}

/// A full or masked load, chosen at compile time.
#[inline(always)]
unsafe fn ldm<S: Simd, const TAIL: bool>(p: *const f32, m: S::M) -> S::V {
    // SAFETY: forwarded contract of `Simd::load` / `Simd::load_m`.
    unsafe {
        if TAIL {
            S::load_m(p, m)
        } else {
            S::load(p)
        }
    }
}
