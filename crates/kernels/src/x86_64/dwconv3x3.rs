//! Depthwise 3×3 convolution, vectorized over channels (XNNPACK `f32-dwconv` style), written
//! once for any [`Simd`] and instantiated by `avx2.rs` / `avx512.rs`. Computes exactly what
//! `reference::dwconv3x3::forward` computes (same tap set; summation order differs).
//!
//! Legend: H, W = input, OH, OW = output, C = channels, L = lanes, s = stride.
//!
//! Per output row the columns split into an *interior* `[ox_lo, ox_hi)`, where all three
//! horizontal taps fall inside the image, and a border of at most two columns on each side.
//! The interior walks one L-channel block at a time along the row with that block's nine
//! weight vectors and bias held in registers, so each output vector costs nine input loads and
//! nine FMAs. Rows whose top or bottom taps fall in the padding skip those taps (a flag per
//! kernel row, hoisted into a separate instantiation when all three rows are valid). Border
//! pixels take a slower path that checks every tap and loads weights from memory.
//! Channel tails (C not a multiple of L) use masked loads/stores of the last block.

use std::ops::Range;

use super::simd::{Simd, VClamp};
use crate::geometry::{Clamp, DwArgs};

/// x: (H, W, C), w: (3, 3, C), b: (C), y: (rows.len(), OW, C).
///
/// # Safety
/// Must run with `S`'s CPU features enabled. Slice lengths are checked here.
#[inline(always)]
pub(super) unsafe fn forward<S: Simd>(
    args: &DwArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
) {
    let g = &args.geom;
    let c = args.c;
    let (oh, ow) = (g.out_h(), g.out_w());
    g.validate();
    assert_eq!(x.len(), g.in_h * g.in_w * c, "dwconv3x3: x len");
    assert_eq!(w.len(), 9 * c, "dwconv3x3: w len");
    assert_eq!(b.len(), c, "dwconv3x3: b len");
    assert!(
        rows.start <= rows.end && rows.end <= oh,
        "dwconv3x3: rows {rows:?} beyond {oh} output rows"
    );
    assert_eq!(y.len(), rows.len() * ow * c, "dwconv3x3: y len");
    if c == 0 || rows.is_empty() {
        return;
    }
    let (s, pt, pl) = (g.stride, g.pad.top, g.pad.left);
    // Interior columns: ox·s − pl ≥ 0 and ox·s − pl + 2 ≤ W − 1.
    let ox_lo = pl.div_ceil(s).min(ow);
    let ox_hi = if g.in_w + pl >= 3 {
        ((g.in_w + pl - 3) / s + 1).min(ow)
    } else {
        0
    }
    .max(ox_lo);
    // SAFETY (whole block): the caller guarantees S's features. Every pointer below is formed
    // only for taps inside the image (row validity flags, interior column bounds, or the
    // per-tap checks of `border_pixel`), channel offsets stay below C (the tail is masked), and
    // output offsets stay inside the `rows.len()·OW·C` elements of `y` asserted above.
    unsafe {
        let vc = VClamp::<S>::new(clamp);
        let (xp, wp, bp) = (x.as_ptr(), w.as_ptr(), b.as_ptr());
        let row_len = g.in_w * c;
        for (r, oy) in rows.enumerate() {
            let yrow = y.as_mut_ptr().add(r * ow * c);
            let iy0 = (oy * s) as isize - pt as isize;
            let mut valid = [false; 3];
            let mut rp = [xp; 3];
            for kh in 0..3 {
                let iy = iy0 + kh as isize;
                if iy >= 0 && (iy as usize) < g.in_h {
                    valid[kh] = true;
                    rp[kh] = xp.add(iy as usize * row_len);
                }
            }
            let row = Row {
                rp,
                valid,
                c,
                step: s * c,
            };
            if ox_lo < ox_hi {
                // Offset of tap (kh, kw = 0) of pixel ox_lo within its input row.
                let px0 = (ox_lo * s - pl) * c;
                let n = ox_hi - ox_lo;
                let y0 = yrow.add(ox_lo * c);
                let all = valid == [true; 3];
                let mut c0 = 0;
                while c0 + S::LANES <= c {
                    if all {
                        interior::<S, true, false>(
                            &row,
                            px0 + c0,
                            n,
                            wp.add(c0),
                            bp.add(c0),
                            S::mask(S::LANES),
                            vc,
                            y0.add(c0),
                        );
                    } else {
                        interior::<S, false, false>(
                            &row,
                            px0 + c0,
                            n,
                            wp.add(c0),
                            bp.add(c0),
                            S::mask(S::LANES),
                            vc,
                            y0.add(c0),
                        );
                    }
                    c0 += S::LANES;
                }
                if c0 < c {
                    let m = S::mask(c - c0);
                    if all {
                        interior::<S, true, true>(
                            &row,
                            px0 + c0,
                            n,
                            wp.add(c0),
                            bp.add(c0),
                            m,
                            vc,
                            y0.add(c0),
                        );
                    } else {
                        interior::<S, false, true>(
                            &row,
                            px0 + c0,
                            n,
                            wp.add(c0),
                            bp.add(c0),
                            m,
                            vc,
                            y0.add(c0),
                        );
                    }
                }
            }
            for ox in (0..ox_lo).chain(ox_hi..ow) {
                let ix0 = (ox * s) as isize - pl as isize;
                border_pixel::<S>(&row, ix0, g.in_w, wp, bp, vc, yrow.add(ox * c));
            }
        }
    }
}

/// One output row's view of the input: the three kernel rows' start pointers (only
/// meaningful where `valid`), channels and the input step between adjacent output pixels.
struct Row {
    rp: [*const f32; 3],
    valid: [bool; 3],
    c: usize,
    step: usize,
}

/// Interior pixels `[ox_lo, ox_lo + n)` of one row, channels `[c0, c0 + L)`: `px` is the offset
/// of tap (·, kw = 0) of the first pixel plus c0; `w`, `b`, `y` are already offset by c0.
/// `ALL`: all three kernel rows are valid. `TAIL`: use mask `m` for loads and stores.
#[inline(always)]
unsafe fn interior<S: Simd, const ALL: bool, const TAIL: bool>(
    row: &Row,
    mut px: usize,
    n: usize,
    w: *const f32,
    b: *const f32,
    m: S::M,
    vc: VClamp<S>,
    y: *mut f32,
) {
    let c = row.c;
    // SAFETY: see `forward`: the caller checked the taps of these pixels are in the image.
    unsafe {
        let mut wk = [S::splat(0.0); 9];
        for t in 0..9 {
            wk[t] = ld::<S, TAIL>(w.add(t * c), m);
        }
        let bias = ld::<S, TAIL>(b, m);
        let zero = S::splat(0.0);
        let mut yp = y;
        for _ in 0..n {
            // One accumulator per kernel row keeps the FMA chains short.
            let mut acc = [bias, zero, zero];
            for kh in 0..3 {
                if ALL || row.valid[kh] {
                    let p = row.rp[kh].add(px);
                    for kw in 0..3 {
                        acc[kh] =
                            S::fmadd(ld::<S, TAIL>(p.add(kw * c), m), wk[kh * 3 + kw], acc[kh]);
                    }
                }
            }
            let v = vc.apply(S::add(S::add(acc[0], acc[1]), acc[2]));
            if TAIL {
                S::store_m(yp, m, v);
            } else {
                S::store(yp, v);
            }
            px += row.step;
            yp = yp.add(c);
        }
    }
}

/// A full or masked load, chosen at compile time.
#[inline(always)]
unsafe fn ld<S: Simd, const TAIL: bool>(p: *const f32, m: S::M) -> S::V {
    // SAFETY: forwarded contract of `Simd::load` / `Simd::load_m`.
    unsafe {
        if TAIL {
            S::load_m(p, m)
        } else {
            S::load(p)
        }
    }
}

/// One border pixel, all channels: every tap is checked against the image.
/// `ix0` is the input column of tap kw = 0 (may be negative).
#[inline(always)]
unsafe fn border_pixel<S: Simd>(
    row: &Row,
    ix0: isize,
    in_w: usize,
    w: *const f32,
    b: *const f32,
    vc: VClamp<S>,
    y: *mut f32,
) {
    let c = row.c;
    let mut taps = [(0usize, 0usize); 9]; // (weight tap kh·3 + kw, input offset in its row)
    let mut nt = 0;
    for kh in 0..3 {
        if !row.valid[kh] {
            continue;
        }
        for kw in 0..3 {
            let ix = ix0 + kw as isize;
            if ix >= 0 && (ix as usize) < in_w {
                taps[nt] = (kh * 3 + kw, ix as usize * c);
                nt += 1;
            }
        }
    }
    // SAFETY: see `forward`: only in-image taps were collected above; channel offsets stay
    // below C (masked tail).
    unsafe {
        let mut c0 = 0;
        while c0 < c {
            let m = S::mask((c - c0).min(S::LANES));
            let mut acc = S::load_m(b.add(c0), m);
            for &(t, off) in &taps[..nt] {
                let kh = t / 3;
                let xv = S::load_m(row.rp[kh].add(off + c0), m);
                let wv = S::load_m(w.add(t * c + c0), m);
                acc = S::fmadd(xv, wv, acc);
            }
            S::store_m(y.add(c0), m, vc.apply(acc));
            c0 += S::LANES;
        }
    }
}
