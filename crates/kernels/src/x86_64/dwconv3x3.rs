//! Depthwise 3×3 convolution, vectorized over channels, written once for any [`Simd`] and
//! instantiated by `avx2.rs` / `avx512.rs`. Computes exactly what
//! `reference::dwconv3x3::forward` computes (same tap set; summation order differs).
//!
//! Legend: H, W = input, OH, OW = output, C = channels, L = lanes, s = stride.
//!
//! The output is cut into tiles of R rows × T columns (XNNPACK `f32-dwconv` order: tile
//! outer, channels inner). For each L-channel block a tile loads the bias and the nine weight
//! vectors once, then every input vector under the tile once — (R−1)·s+3 rows × (T−1)·s+3
//! columns — and feeds it to every output of the tile that uses it, so neighbouring outputs
//! share their overlapping input columns (stride 1: T+2 loads per T outputs per kernel row;
//! stride 2: 2T+1) and rows. Channels inner keeps every access a sequential stream along C,
//! which matters for C = 256…1024 where pixels are a power of two apart (a channel-block-outer
//! walk along a row hits only a few L1 sets).
//!
//! Tiles whose input window lies inside the image take the unchecked path; tiles touching the
//! padding skip the missing rows/columns by per-tile flags (a separate instantiation, so the
//! interior has no tests). Row and column remainders use R = 1 and T = 1 tiles. Channel tails
//! (C not a multiple of L) use masked loads/stores of the last block.

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
    let ow = g.out_w();
    args.check(x.len(), w.len(), b.len(), &rows, y.len());
    if c == 0 || rows.is_empty() {
        return;
    }
    let p = Plan {
        x: x.as_ptr(),
        w: w.as_ptr(),
        b: b.as_ptr(),
        y: y.as_mut_ptr(),
        h: g.in_h,
        wd: g.in_w,
        c,
        ow,
        s: g.stride,
        pt: g.pad.top,
        pl: g.pad.left,
        r0: rows.start,
    };
    // SAFETY: the caller guarantees S's features; `Plan` holds the slices checked above.
    unsafe {
        let vc = VClamp::<S>::new(clamp);
        // Tile sizes: accumulators R·T plus nine weights and one input must fit the register
        // file (32 zmm on AVX-512, 16 ymm on AVX2).
        match (S::LANES >= 16, g.stride) {
            (true, 1) => bands::<S, 2, 4, 1, false>(&p, rows, vc),
            (true, 2) => bands::<S, 2, 4, 2, false>(&p, rows, vc),
            (false, 1) => bands::<S, 1, 4, 1, false>(&p, rows, vc),
            (false, 2) => bands::<S, 1, 3, 2, false>(&p, rows, vc),
            _ => bands::<S, 1, 1, 1, false>(&p, rows, vc),
        }
    }
}

/// Input gradient at stride 1, dx rows `rows` (overwritten): the forward tiles run over `dy`
/// with the kernel rotated by 180°, no bias and no clamp.
/// `dx[iy, ix] = Σ_{kh,kw} dy[iy + pt − kh, ix + pl − kw]·w[kh, kw]` is a correlation of `dy`
/// (OH × OW) with `w'[a, b] = w[2 − a, 2 − b]` at padding top/left `2 − pt`, `2 − pl` (valid:
/// `pt, pl < 3`), producing H × W outputs; taps outside `dy` are skipped like padding, so the
/// bottom/right padding needs no mapping.
///
/// # Safety
/// Must run with `S`'s CPU features enabled. Slice lengths are checked here.
#[inline(always)]
pub(super) unsafe fn backward_input_s1<S: Simd>(
    args: &DwArgs,
    dy: &[f32],
    w: &[f32],
    rows: Range<usize>,
    dx: &mut [f32],
) {
    let g = &args.geom;
    let c = args.c;
    args.check_backward_input(dy.len(), w.len(), &rows, dx.len());
    assert_eq!(g.stride, 1, "dwconv3x3 backward_input_s1: stride");
    if c == 0 || rows.is_empty() {
        return;
    }
    let p = Plan {
        x: dy.as_ptr(),
        w: w.as_ptr(),
        // Not read when BWD.
        b: std::ptr::null(),
        y: dx.as_mut_ptr(),
        h: g.out_h(),
        wd: g.out_w(),
        c,
        ow: g.in_w,
        s: 1,
        pt: 2 - g.pad.top,
        pl: 2 - g.pad.left,
        r0: rows.start,
    };
    // SAFETY: the caller guarantees S's features; `Plan` describes `dy` (OH, OW, C) as the
    // input and `dx` (rows.len(), W, C) as the output rows `rows` of an H × W result, checked
    // above; every `dy` access is range-checked by the tiles exactly as forward's input.
    unsafe {
        let vc = VClamp::<S>::new(Clamp::NONE);
        if S::LANES >= 16 {
            bands::<S, 2, 4, 1, true>(&p, rows, vc);
        } else {
            bands::<S, 1, 4, 1, true>(&p, rows, vc);
        }
    }
}

/// Bounds on the input rows ((R−1)·s+3) and columns ((T−1)·s+3) under one tile.
const MAXR: usize = 10;
const MAXC: usize = 12;

/// The call's pointers and geometry. `r0`: first output row of `y`.
struct Plan {
    x: *const f32,
    w: *const f32,
    b: *const f32,
    y: *mut f32,
    h: usize,
    wd: usize,
    c: usize,
    ow: usize,
    s: usize,
    pt: usize,
    pl: usize,
    r0: usize,
}

/// Output rows `rows` in bands of R rows (remainder: R = 1). `ST` is the stride within a
/// tile (tiles of one output pixel work for any stride).
#[inline(always)]
unsafe fn bands<S: Simd, const R: usize, const T: usize, const ST: usize, const BWD: bool>(
    p: &Plan,
    rows: Range<usize>,
    vc: VClamp<S>,
) {
    debug_assert!((R == 1 && T == 1) || ST == p.s);
    let mut oy = rows.start;
    // SAFETY: forwarded contract of `band`.
    unsafe {
        while oy + R <= rows.end {
            band::<S, R, T, ST, BWD>(p, oy, vc);
            oy += R;
        }
        while oy < rows.end {
            band::<S, 1, T, ST, BWD>(p, oy, vc);
            oy += 1;
        }
    }
}

/// Output rows `[oy, oy + R)`, all columns: tiles of T columns, then T = 1 for the rest.
#[inline(always)]
unsafe fn band<S: Simd, const R: usize, const T: usize, const ST: usize, const BWD: bool>(
    p: &Plan,
    oy: usize,
    vc: VClamp<S>,
) {
    let c = p.c;
    let nr = (R - 1) * ST + 3;
    let iy0 = (oy * p.s) as isize - p.pt as isize;
    let mut xr = [p.x; MAXR];
    let mut vr = [true; MAXR];
    for ir in 0..nr {
        let iy = iy0 + ir as isize;
        vr[ir] = iy >= 0 && (iy as usize) < p.h;
        // Pointer to column 0 of input row iy; dereferenced only where `vr`.
        xr[ir] = p.x.wrapping_offset(iy * (p.wd * c) as isize);
    }
    let rows_ok = vr.iter().all(|&v| v);
    let mut yr = [p.y; R];
    for r in 0..R {
        // SAFETY: output rows [oy, oy + R) are inside `rows`, so inside y.
        yr[r] = unsafe { p.y.add((oy - p.r0 + r) * p.ow * c) };
    }
    let nc = (T - 1) * ST + 3;
    let mut ox = 0;
    // SAFETY: forwarded contract of `tile`: the flags mark exactly the in-image rows/columns.
    unsafe {
        while ox + T <= p.ow {
            let ix0 = (ox * p.s) as isize - p.pl as isize;
            if rows_ok && ix0 >= 0 && ix0 as usize + nc <= p.wd {
                tile::<S, R, T, ST, BWD, false>(p, &xr, &vr, ix0, &yr, ox, vc);
            } else {
                tile::<S, R, T, ST, BWD, true>(p, &xr, &vr, ix0, &yr, ox, vc);
            }
            ox += T;
        }
        // One narrower tile for the remaining columns.
        match p.ow - ox {
            0 => {}
            1 => rem_tile::<S, R, 1, ST, BWD>(p, &xr, &vr, rows_ok, &yr, ox, vc),
            2 => rem_tile::<S, R, 2, ST, BWD>(p, &xr, &vr, rows_ok, &yr, ox, vc),
            3 => rem_tile::<S, R, 3, ST, BWD>(p, &xr, &vr, rows_ok, &yr, ox, vc),
            _ => {
                while ox < p.ow {
                    rem_tile::<S, R, 1, ST, BWD>(p, &xr, &vr, rows_ok, &yr, ox, vc);
                    ox += 1;
                }
            }
        }
    }
}

/// A tile of T columns at `ox` (the row's last columns), checked or not as its window needs.
#[inline(always)]
unsafe fn rem_tile<S: Simd, const R: usize, const T: usize, const ST: usize, const BWD: bool>(
    p: &Plan,
    xr: &[*const f32; MAXR],
    vr: &[bool; MAXR],
    rows_ok: bool,
    yr: &[*mut f32; R],
    ox: usize,
    vc: VClamp<S>,
) {
    let nc = (T - 1) * ST + 3;
    let ix0 = (ox * p.s) as isize - p.pl as isize;
    // SAFETY: forwarded contract of `tile`.
    unsafe {
        if rows_ok && ix0 >= 0 && ix0 as usize + nc <= p.wd {
            tile::<S, R, T, ST, BWD, false>(p, xr, vr, ix0, yr, ox, vc);
        } else {
            tile::<S, R, T, ST, BWD, true>(p, xr, vr, ix0, yr, ox, vc);
        }
    }
}

/// One R × T tile at output column `ox` (input column `ix0` of its first tap), all channels.
/// `CHECK`: skip input rows with `!vr[ir]` and columns outside `[0, W)`; otherwise all are
/// inside the image.
#[inline(always)]
unsafe fn tile<
    S: Simd,
    const R: usize,
    const T: usize,
    const ST: usize,
    const BWD: bool,
    const CHECK: bool,
>(
    p: &Plan,
    xr: &[*const f32; MAXR],
    vr: &[bool; MAXR],
    ix0: isize,
    yr: &[*mut f32; R],
    ox: usize,
    vc: VClamp<S>,
) {
    let c = p.c;
    let (nr, nc) = ((R - 1) * ST + 3, (T - 1) * ST + 3);
    let mut vcol = [true; MAXC];
    let mut xo = [p.x; MAXR];
    for ir in 0..nr {
        xo[ir] = xr[ir].wrapping_offset(ix0 * c as isize);
    }
    if CHECK {
        for ic in 0..nc {
            let ix = ix0 + ic as isize;
            vcol[ic] = ix >= 0 && (ix as usize) < p.wd;
        }
    }
    let mut yo = [p.y; R];
    for r in 0..R {
        yo[r] = yr[r].wrapping_add(ox * c);
    }
    let t = Taps {
        xo: &xo,
        vr,
        vcol: &vcol,
        w: p.w,
        b: p.b,
        yo: &yo,
        c,
    };
    // SAFETY: forwarded contract of `step`; c0 + L <= C for the unmasked blocks, the last
    // block is masked to C − c0 lanes.
    unsafe {
        let mut c0 = 0;
        while c0 + S::LANES <= c {
            step::<S, R, T, ST, BWD, CHECK, false>(&t, c0, S::mask(S::LANES), vc);
            c0 += S::LANES;
        }
        if c0 < c {
            step::<S, R, T, ST, BWD, CHECK, true>(&t, c0, S::mask(c - c0), vc);
        }
    }
}

/// A tile's pointers: input rows at the tile's first column, row/column flags, outputs.
struct Taps<'a, const R: usize> {
    xo: &'a [*const f32; MAXR],
    vr: &'a [bool; MAXR],
    vcol: &'a [bool; MAXC],
    w: *const f32,
    b: *const f32,
    yo: &'a [*mut f32; R],
    c: usize,
}

/// Channels `[c0, c0 + L)` (masked by `m` if `TAIL`) of one tile.
#[inline(always)]
unsafe fn step<
    S: Simd,
    const R: usize,
    const T: usize,
    const ST: usize,
    const BWD: bool,
    const CHECK: bool,
    const TAIL: bool,
>(
    t: &Taps<'_, R>,
    c0: usize,
    m: S::M,
    vc: VClamp<S>,
) {
    let c = t.c;
    let (nr, nc) = ((R - 1) * ST + 3, (T - 1) * ST + 3);
    // SAFETY: see `forward`; loads happen only for in-image rows/columns (all of them when
    // !CHECK), channel offsets stay below C (masked tail), outputs are inside y.
    unsafe {
        // BWD: no bias, the kernel rotated by 180° (tap k reads weight 8 − k).
        let bias = if BWD {
            S::splat(0.0)
        } else {
            ld::<S, TAIL>(t.b.add(c0), m)
        };
        let mut wk = [bias; 9];
        for k in 0..9 {
            let kk = if BWD { 8 - k } else { k };
            wk[k] = ld::<S, TAIL>(t.w.add(kk * c + c0), m);
        }
        let mut acc = [[bias; T]; R];
        for ir in 0..nr {
            if CHECK && !t.vr[ir] {
                continue;
            }
            for ic in 0..nc {
                if CHECK && !t.vcol[ic] {
                    continue;
                }
                let xv = ld::<S, TAIL>(t.xo[ir].add(ic * c + c0), m);
                for r in 0..R {
                    if ir < r * ST || ir - r * ST >= 3 {
                        continue;
                    }
                    let kh = ir - r * ST;
                    for j in 0..T {
                        if ic < j * ST || ic - j * ST >= 3 {
                            continue;
                        }
                        let kw = ic - j * ST;
                        acc[r][j] = S::fmadd(xv, wk[kh * 3 + kw], acc[r][j]);
                    }
                }
            }
        }
        for r in 0..R {
            for j in 0..T {
                let v = if BWD { acc[r][j] } else { vc.apply(acc[r][j]) };
                let yp = t.yo[r].add(j * c + c0);
                if TAIL {
                    S::store_m(yp, m, v);
                } else {
                    S::store(yp, v);
                }
            }
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
