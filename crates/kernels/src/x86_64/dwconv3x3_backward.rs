//! Gradients of the depthwise 3×3 convolution, vectorized over channels, written once for any
//! [`Simd`]. They compute what `reference::dwconv3x3::{backward_input, backward_filter}`
//! compute (same tap sets; summation order differs).
//!
//! Legend: H, W = input, OH, OW = output, C = channels, L = lanes, s = stride.
//!
//! **Input gradient** (gather form, one dx pixel at a time, channels inner):
//! - stride 1: `dwconv3x3::backward_input_s1`, the forward's register tiles run over `dy` with
//!   the kernel rotated by 180°.
//! - stride 2: per dx row the one or two `dy` rows that reach it are found once (row taps
//!   `kh ≡ iy + pt (mod 2)`). Columns come in pairs `(ix, ix + 1)` with `ix + pl` even: `ix`
//!   takes taps kw = 0, 2 from `dy` columns `o`, `o − 1` (`o = (ix + pl)/2`), `ix + 1` takes
//!   kw = 1 from `o`. A tile of T pairs loads T + 1 `dy` vectors and 3 weights per row tap for
//!   3T FMAs and writes 2T outputs; the pairs left at a row's end form one tile of 2 or 1
//!   pairs. Columns next to the borders (or of the wrong phase at the left) go one pixel at a
//!   time through the tap lists.
//! - other strides: one pixel at a time through the tap lists.
//!
//! **Filter gradient**: channel block outer (nine accumulators per block in registers for all
//! rows of the call), then output rows, then tiles of T = 4 output columns (the row's last
//! 1…3 columns as one narrower tile): one `dy` load per
//! output pixel and `(T − 1)·s + 3` input loads per kernel row, each feeding every tap of the
//! tile that reads it. Tiles whose window leaves the image test rows/columns by flags (a
//! separate instantiation). The sums are added into `dw` once per block at the end of the call.
//!
//! Channel tails (C not a multiple of L) use masked loads/stores of the last block.

use std::ops::Range;

use super::simd::Simd;
use crate::geometry::DwArgs;

/// At most three taps per dimension reach one input coordinate (stride 1).
const MAXT: usize = 3;

/// The (kernel index, output coordinate) pairs whose tap reads input coordinate `i`
/// (`i = o·s + k − pad`, `0 ≤ o < out`), and how many.
#[inline(always)]
fn taps(i: usize, pad: usize, s: usize, out: usize) -> ([(usize, usize); MAXT], usize) {
    let mut t = [(0, 0); MAXT];
    let mut n = 0;
    for k in 0..3 {
        let Some(v) = (i + pad).checked_sub(k) else {
            continue;
        };
        let o = if s == 2 {
            if v & 1 != 0 {
                continue;
            }
            v >> 1
        } else if s == 1 {
            v
        } else {
            if v % s != 0 {
                continue;
            }
            v / s
        };
        if o < out {
            t[n] = (k, o);
            n += 1;
        }
    }
    (t, n)
}

/// The call's pointers and geometry for the input gradient.
struct InPlan {
    dy: *const f32,
    w: *const f32,
    dx: *mut f32,
    wd: usize,
    c: usize,
    oh: usize,
    ow: usize,
    s: usize,
    pt: usize,
    pl: usize,
}

/// dy: (OH, OW, C), w: (3, 3, C), dx: (rows.len(), W, C) overwritten.
///
/// # Safety
/// Must run with `S`'s CPU features enabled. Slice lengths are checked here.
#[inline(always)]
pub(super) unsafe fn backward_input<S: Simd>(
    args: &DwArgs,
    dy: &[f32],
    w: &[f32],
    rows: Range<usize>,
    dx: &mut [f32],
) {
    let g = &args.geom;
    let c = args.c;
    if g.stride == 1 {
        // SAFETY: forwarded contract (features); it checks the lengths itself.
        unsafe { super::dwconv3x3::backward_input_s1::<S>(args, dy, w, rows, dx) };
        return;
    }
    args.check_backward_input(dy.len(), w.len(), &rows, dx.len());
    if c == 0 || rows.is_empty() {
        return;
    }
    let p = InPlan {
        dy: dy.as_ptr(),
        w: w.as_ptr(),
        dx: dx.as_mut_ptr(),
        wd: g.in_w,
        c,
        oh: g.out_h(),
        ow: g.out_w(),
        s: g.stride,
        pt: g.pad.top,
        pl: g.pad.left,
    };
    // SAFETY: the caller guarantees S's features; `p` holds the slices checked above.
    unsafe {
        for (r, iy) in rows.enumerate() {
            if S::LANES >= 16 {
                in_row::<S, 4>(&p, iy, r);
            } else {
                in_row::<S, 3>(&p, iy, r);
            }
        }
    }
}

/// One dx row (`iy`, stored as row `r` of dx). `T`: column pairs per stride-2 tile.
#[inline(always)]
unsafe fn in_row<S: Simd, const T: usize>(p: &InPlan, iy: usize, r: usize) {
    let c = p.c;
    let (rt, nrt) = taps(iy, p.pt, p.s, p.oh);
    // The dy rows (at column 0) and weight rows (at kw = 0) of the row taps.
    let mut drow = [p.dy; MAXT];
    let mut wrow = [p.w; MAXT];
    for t in 0..nrt {
        let (kh, oy) = rt[t];
        drow[t] = p.dy.wrapping_add(oy * p.ow * c);
        wrow[t] = p.w.wrapping_add(kh * 3 * c);
    }
    // SAFETY: dx row r is inside dx (rows were checked); every tap pointer addresses a dy
    // pixel with oy < OH, ox < OW and a weight k < 9, so `c0 + L ≤ C` (or masked) stays inside.
    unsafe {
        let dxr = p.dx.add(r * p.wd * c);
        let mut ix = 0;
        while ix < p.wd {
            if p.s == 2 && (ix + p.pl).is_multiple_of(2) {
                let o = (ix + p.pl) / 2;
                // Pairs whose dy columns o − 1 … o + t − 1 and dx columns ix … ix + 2t − 1
                // exist: T at a time, then one narrower tile at the row's end.
                let fit = |t: usize| o >= 1 && o + t <= p.ow && ix + 2 * t <= p.wd;
                let t = [T, 2, 1].into_iter().find(|&t| t <= T && fit(t));
                if let Some(t) = t {
                    let d0 = drow.map(|d| d.wrapping_add((o - 1) * c));
                    let (d0, wr, out) = (&d0[..nrt], &wrow[..nrt], dxr.add(ix * c));
                    match t {
                        1 => pair_tile::<S, 1>(d0, wr, out, c),
                        2 => pair_tile::<S, 2>(d0, wr, out, c),
                        _ => pair_tile::<S, T>(d0, wr, out, c),
                    }
                    ix += 2 * t;
                    continue;
                }
            }
            pixel::<S>(p, &drow[..nrt], &wrow[..nrt], ix, dxr.add(ix * c));
            ix += 1;
        }
    }
}

/// One dx pixel at column `ix`: its taps gathered into pointer lists, then all channels.
#[inline(always)]
unsafe fn pixel<S: Simd>(
    p: &InPlan,
    drow: &[*const f32],
    wrow: &[*const f32],
    ix: usize,
    out: *mut f32,
) {
    let c = p.c;
    let (ct, nct) = taps(ix, p.pl, p.s, p.ow);
    let mut dp = [p.dy; MAXT * MAXT];
    let mut wp = [p.w; MAXT * MAXT];
    let mut n = 0;
    for (d, w) in drow.iter().zip(wrow) {
        for &(kw, ox) in &ct[..nct] {
            dp[n] = d.wrapping_add(ox * c);
            wp[n] = w.wrapping_add(kw * c);
            n += 1;
        }
    }
    // SAFETY: see `in_row`: every pointer in dp/wp addresses C valid floats.
    unsafe {
        let mut c0 = 0;
        while c0 + S::LANES <= c {
            let mut acc = S::splat(0.0);
            for t in 0..n {
                acc = S::fmadd(S::load(dp[t].add(c0)), S::load(wp[t].add(c0)), acc);
            }
            S::store(out.add(c0), acc);
            c0 += S::LANES;
        }
        if c0 < c {
            let m = S::mask(c - c0);
            let mut acc = S::splat(0.0);
            for t in 0..n {
                acc = S::fmadd(
                    S::load_m(dp[t].add(c0), m),
                    S::load_m(wp[t].add(c0), m),
                    acc,
                );
            }
            S::store_m(out.add(c0), m, acc);
        }
    }
}

/// Stride 2, T column pairs at once: `d0[t]` points at dy column `o − 1` of row tap t, `w[t]`
/// at its weight row; `out` at dx column `ix` (with `ix + pl = 2·o`).
/// `out[2j] = Σ_t d[t][j + 1]·w[t][0] + d[t][j]·w[t][2]`, `out[2j + 1] = Σ_t d[t][j + 1]·w[t][1]`.
#[inline(always)]
unsafe fn pair_tile<S: Simd, const T: usize>(
    d0: &[*const f32],
    w: &[*const f32],
    out: *mut f32,
    c: usize,
) {
    // SAFETY: the caller checked dy columns o − 1 … o + T − 1 and dx columns ix … ix + 2T − 1
    // lie inside their rows; channel offsets stay below C (masked tail).
    unsafe {
        let mut c0 = 0;
        while c0 + S::LANES <= c {
            pair_step::<S, T, false>(d0, w, out, c, c0, S::mask(S::LANES));
            c0 += S::LANES;
        }
        if c0 < c {
            pair_step::<S, T, true>(d0, w, out, c, c0, S::mask(c - c0));
        }
    }
}

#[inline(always)]
unsafe fn pair_step<S: Simd, const T: usize, const TAIL: bool>(
    d0: &[*const f32],
    w: &[*const f32],
    out: *mut f32,
    c: usize,
    c0: usize,
    m: S::M,
) {
    // SAFETY: forwarded contract of `pair_tile`.
    unsafe {
        let z = S::splat(0.0);
        let mut even = [z; T];
        let mut odd = [z; T];
        for (&d, &wr) in d0.iter().zip(w) {
            let w0 = ld::<S, TAIL>(wr.add(c0), m);
            let w1 = ld::<S, TAIL>(wr.add(c + c0), m);
            let w2 = ld::<S, TAIL>(wr.add(2 * c + c0), m);
            let mut prev = ld::<S, TAIL>(d.add(c0), m);
            for j in 0..T {
                let cur = ld::<S, TAIL>(d.add((j + 1) * c + c0), m);
                even[j] = S::fmadd(prev, w2, even[j]);
                even[j] = S::fmadd(cur, w0, even[j]);
                odd[j] = S::fmadd(cur, w1, odd[j]);
                prev = cur;
            }
        }
        for j in 0..T {
            st::<S, TAIL>(out.add(2 * j * c + c0), m, even[j]);
            st::<S, TAIL>(out.add((2 * j + 1) * c + c0), m, odd[j]);
        }
    }
}

/// The call's pointers and geometry for the filter gradient.
struct FiltPlan {
    x: *const f32,
    dy: *const f32,
    h: usize,
    wd: usize,
    c: usize,
    ow: usize,
    s: usize,
    pt: usize,
    pl: usize,
}

/// Bound on the input columns under one filter tile ((T − 1)·s + 3).
const MAXC: usize = 12;

/// x: (H, W, C), dy: (OH, OW, C), output rows `rows`; `dw: (3, 3, C) +=` their contribution.
///
/// # Safety
/// Must run with `S`'s CPU features enabled. Slice lengths are checked here.
#[inline(always)]
pub(super) unsafe fn backward_filter<S: Simd>(
    args: &DwArgs,
    x: &[f32],
    dy: &[f32],
    rows: Range<usize>,
    dw: &mut [f32],
) {
    let g = &args.geom;
    let c = args.c;
    args.check_backward_filter(x.len(), dy.len(), &rows, dw.len());
    if c == 0 || rows.is_empty() {
        return;
    }
    let p = FiltPlan {
        x: x.as_ptr(),
        dy: dy.as_ptr(),
        h: g.in_h,
        wd: g.in_w,
        c,
        ow: g.out_w(),
        s: g.stride,
        pt: g.pad.top,
        pl: g.pad.left,
    };
    let dwp = dw.as_mut_ptr();
    // SAFETY: the caller guarantees S's features; `p` holds the slices checked above, dw has
    // 9·C elements.
    unsafe {
        let mut c0 = 0;
        while c0 + S::LANES <= c {
            filter_block::<S, false>(&p, rows.clone(), c0, S::mask(S::LANES), dwp);
            c0 += S::LANES;
        }
        if c0 < c {
            filter_block::<S, true>(&p, rows, c0, S::mask(c - c0), dwp);
        }
    }
}

/// Channels `[c0, c0 + L)` (masked if `TAIL`) over all rows; adds the nine sums into dw.
#[inline(always)]
unsafe fn filter_block<S: Simd, const TAIL: bool>(
    p: &FiltPlan,
    rows: Range<usize>,
    c0: usize,
    m: S::M,
    dw: *mut f32,
) {
    let c = p.c;
    // SAFETY: forwarded contracts; dw[k·C + c0 ..] is inside dw (masked tail).
    unsafe {
        let mut acc = [S::splat(0.0); 9];
        for oy in rows {
            let iy0 = (oy * p.s) as isize - p.pt as isize;
            let mut xr = [p.x; 3];
            let mut vr = [true; 3];
            for kh in 0..3 {
                let iy = iy0 + kh as isize;
                vr[kh] = iy >= 0 && (iy as usize) < p.h;
                // Column 0 of input row iy, channel c0; dereferenced only where `vr`.
                xr[kh] = p.x.wrapping_offset(iy * (p.wd * c) as isize + c0 as isize);
            }
            let dyr = p.dy.add(oy * p.ow * c + c0);
            match p.s {
                1 => filter_row::<S, 4, 1, TAIL>(p, &xr, &vr, dyr, m, &mut acc),
                2 => filter_row::<S, 4, 2, TAIL>(p, &xr, &vr, dyr, m, &mut acc),
                _ => filter_row::<S, 1, 1, TAIL>(p, &xr, &vr, dyr, m, &mut acc),
            }
        }
        for k in 0..9 {
            let q = dw.add(k * c + c0);
            st::<S, TAIL>(q, m, S::add(ld::<S, TAIL>(q, m), acc[k]));
        }
    }
}

/// One output row in tiles of T columns (`ST`: the stride inside a tile; T = 1 tiles serve
/// any stride), the row's last columns one at a time.
#[inline(always)]
unsafe fn filter_row<S: Simd, const T: usize, const ST: usize, const TAIL: bool>(
    p: &FiltPlan,
    xr: &[*const f32; 3],
    vr: &[bool; 3],
    dyr: *const f32,
    m: S::M,
    acc: &mut [S::V; 9],
) {
    let rows_ok = vr[0] && vr[1] && vr[2];
    // SAFETY: forwarded contract of `filter_tile`: the flags mark exactly the in-image
    // rows/columns; output columns stay below OW.
    unsafe {
        let mut ox = 0;
        while ox + T <= p.ow {
            filter_tile_at::<S, T, ST, TAIL>(p, xr, vr, rows_ok, dyr, ox, m, acc);
            ox += T;
        }
        // One narrower tile for the remaining columns (T = 1 tiles serve any stride).
        match (p.ow - ox, T) {
            (0, _) => {}
            (2, 4) => filter_tile_at::<S, 2, ST, TAIL>(p, xr, vr, rows_ok, dyr, ox, m, acc),
            (3, 4) => filter_tile_at::<S, 3, ST, TAIL>(p, xr, vr, rows_ok, dyr, ox, m, acc),
            _ => {
                while ox < p.ow {
                    filter_tile_at::<S, 1, 1, TAIL>(p, xr, vr, rows_ok, dyr, ox, m, acc);
                    ox += 1;
                }
            }
        }
    }
}

#[inline(always)]
unsafe fn filter_tile_at<S: Simd, const T: usize, const ST: usize, const TAIL: bool>(
    p: &FiltPlan,
    xr: &[*const f32; 3],
    vr: &[bool; 3],
    rows_ok: bool,
    dyr: *const f32,
    ox: usize,
    m: S::M,
    acc: &mut [S::V; 9],
) {
    let nc = (T - 1) * ST + 3;
    let ix0 = (ox * p.s) as isize - p.pl as isize;
    // SAFETY: forwarded contract of `filter_tile`.
    unsafe {
        if rows_ok && ix0 >= 0 && ix0 as usize + nc <= p.wd {
            filter_tile::<S, T, ST, false, TAIL>(p, xr, vr, ix0, dyr, ox, m, acc);
        } else {
            filter_tile::<S, T, ST, true, TAIL>(p, xr, vr, ix0, dyr, ox, m, acc);
        }
    }
}

/// Output columns `[ox, ox + T)` of one row: T `dy` loads, then each input vector under the
/// tile once, fed to every (pixel, tap) that reads it. `CHECK`: skip rows with `!vr[kh]` and
/// columns outside `[0, W)`.
#[inline(always)]
unsafe fn filter_tile<
    S: Simd,
    const T: usize,
    const ST: usize,
    const CHECK: bool,
    const TAIL: bool,
>(
    p: &FiltPlan,
    xr: &[*const f32; 3],
    vr: &[bool; 3],
    ix0: isize,
    dyr: *const f32,
    ox: usize,
    m: S::M,
    acc: &mut [S::V; 9],
) {
    let c = p.c;
    let nc = (T - 1) * ST + 3;
    let mut vcol = [true; MAXC];
    if CHECK {
        for ic in 0..nc {
            let ix = ix0 + ic as isize;
            vcol[ic] = ix >= 0 && (ix as usize) < p.wd;
        }
    }
    // SAFETY: dy pixels ox..ox+T < OW of this row; x loads only for in-image rows/columns
    // (all of them when !CHECK); channel offsets below C (masked tail).
    unsafe {
        let mut d = [S::splat(0.0); T];
        for j in 0..T {
            d[j] = ld::<S, TAIL>(dyr.add((ox + j) * c), m);
        }
        for kh in 0..3 {
            if CHECK && !vr[kh] {
                continue;
            }
            let xo = xr[kh].wrapping_offset(ix0 * c as isize);
            for ic in 0..nc {
                if CHECK && !vcol[ic] {
                    continue;
                }
                let xv = ld::<S, TAIL>(xo.wrapping_add(ic * c), m);
                for j in 0..T {
                    if ic < j * ST || ic - j * ST >= 3 {
                        continue;
                    }
                    let kw = ic - j * ST;
                    acc[kh * 3 + kw] = S::fmadd(xv, d[j], acc[kh * 3 + kw]);
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

/// A full or masked store, chosen at compile time.
#[inline(always)]
unsafe fn st<S: Simd, const TAIL: bool>(p: *mut f32, m: S::M, v: S::V) {
    // SAFETY: forwarded contract of `Simd::store` / `Simd::store_m`.
    unsafe {
        if TAIL {
            S::store_m(p, m, v)
        } else {
            S::store(p, v)
        }
    }
}
