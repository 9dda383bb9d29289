//! BatchNorm (training) kernels over (M, C) rows, vectorized over channels, written once for
//! any [`Simd`]. They compute what `reference::batch_norm::*` computes.
//!
//! - `sums`, `act_backward_sums` (per-channel reductions): the channels are cut into groups
//!   of G vectors (G = 8, 4, 2, 1 while they fill it, then one masked vector for the tail);
//!   each group walks the rows with its per-channel parameters and 2·G f32 accumulators in
//!   registers. Every [`FLUSH_ROWS`] rows the accumulators are added into the f64 outputs, so
//!   f32 sums never run over more than that many terms (a call gets ≤ 32768 elements from
//!   `parallel::train`; with C ≥ 128 that is one flush per call).
//! - `scale_shift_clamp`, `act_backward_apply` (elementwise): rows outer, channels inner, the
//!   per-channel coefficients loaded from L1. They use the reference's operations in the
//!   reference's order without FMA contraction, so their results are bit-identical to it.

use super::simd::{Simd, VClamp};
use crate::geometry::Clamp;
use crate::reference::batch_norm::{BnBackward, BnStats};

/// Rows summed in f32 before the partial sums are added into the f64 outputs.
const FLUSH_ROWS: usize = 256;

/// Widest channel group (vectors).
const MAXG: usize = 8;

fn check_rows(op: &str, len: usize, c: usize) {
    assert!(
        c > 0 && len.is_multiple_of(c),
        "{op}: len {len} not a multiple of {c} channels"
    );
}

/// The next group of whole vectors at vector `v` of `full`: the largest of 8, 4, 2, 1 that is
/// at most `gmax` and fits.
fn group(v: usize, full: usize, gmax: usize) -> usize {
    let left = full - v;
    [8, 4, 2, 1]
        .into_iter()
        .find(|&g| g <= gmax && g <= left)
        .unwrap_or(1)
}

/// Adds the first `n` lanes of `acc` (G vectors laid end to end) into `out[..n]`.
#[inline(always)]
unsafe fn flush<S: Simd, const G: usize>(acc: &[S::V; G], out: &mut [f64], n: usize) {
    let mut buf = [0.0f32; MAXG * 16];
    debug_assert!(G * S::LANES <= buf.len() && n <= G * S::LANES && n <= out.len());
    // SAFETY: G·L ≤ buf.len() (L ≤ 16, G ≤ 8).
    unsafe {
        for v in 0..G {
            S::store(buf.as_mut_ptr().add(v * S::LANES), acc[v]);
        }
    }
    for (o, &b) in out[..n].iter_mut().zip(&buf[..n]) {
        *o += b as f64;
    }
}

/// `sum[c] += Σ (x − shift[c])`, `sumsq[c] += Σ (x − shift[c])²` over x: (M, C).
///
/// # Safety
/// Must run with `S`'s CPU features enabled. Lengths are checked here.
#[inline(always)]
pub(super) unsafe fn sums<S: Simd>(x: &[f32], shift: &[f32], sum: &mut [f64], sumsq: &mut [f64]) {
    let c = shift.len();
    check_rows("batch_norm sums", x.len(), c);
    assert!(
        sum.len() == c && sumsq.len() == c,
        "batch_norm sums: sum len"
    );
    let l = S::LANES;
    let full = c / l;
    let gmax = if l >= 16 { 8 } else { 4 };
    let mut v = 0;
    // SAFETY: the caller guarantees S's features; each group reads channels
    // [v·L, v·L + G·L) (or the masked tail) of every row, all inside x and shift.
    unsafe {
        while v < full {
            let g = group(v, full, gmax);
            let a = (x, shift, v * l, S::mask(l));
            match g {
                8 => sums_group::<S, 8, false>(a, sum, sumsq, 8 * l),
                4 => sums_group::<S, 4, false>(a, sum, sumsq, 4 * l),
                2 => sums_group::<S, 2, false>(a, sum, sumsq, 2 * l),
                _ => sums_group::<S, 1, false>(a, sum, sumsq, l),
            }
            v += g;
        }
        if !c.is_multiple_of(l) {
            let a = (x, shift, v * l, S::mask(c % l));
            sums_group::<S, 1, true>(a, sum, sumsq, c % l);
        }
    }
}

/// Channels `[c0, c0 + n)` of `sums`, `n ≤ G·L` (`n < L` with a masked vector if `TAIL`).
#[inline(always)]
unsafe fn sums_group<S: Simd, const G: usize, const TAIL: bool>(
    (x, shift, c0, m): (&[f32], &[f32], usize, S::M),
    sum: &mut [f64],
    sumsq: &mut [f64],
    n: usize,
) {
    let c = shift.len();
    let rows = x.len() / c;
    let l = S::LANES;
    // SAFETY: see `sums`; row `i` of the group starts at x[i·C + c0].
    unsafe {
        let z = S::splat(0.0);
        let mut sh = [z; G];
        for v in 0..G {
            sh[v] = ld::<S, TAIL>(shift.as_ptr().add(c0 + v * l), m);
        }
        let mut r = 0;
        while r < rows {
            let r1 = (r + FLUSH_ROWS).min(rows);
            let (mut s, mut q) = ([z; G], [z; G]);
            for i in r..r1 {
                let p = x.as_ptr().add(i * c + c0);
                for v in 0..G {
                    let d = S::sub(ld::<S, TAIL>(p.add(v * l), m), sh[v]);
                    s[v] = S::add(s[v], d);
                    q[v] = S::fmadd(d, d, q[v]);
                }
            }
            flush::<S, G>(&s, &mut sum[c0..], n);
            flush::<S, G>(&q, &mut sumsq[c0..], n);
            r = r1;
        }
    }
}

/// `y = clamp(x·scale[c] + shift[c])` over x, y: (M, C).
///
/// # Safety
/// Must run with `S`'s CPU features enabled. Lengths are checked here.
#[inline(always)]
pub(super) unsafe fn scale_shift_clamp<S: Simd>(
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    clamp: Clamp,
    y: &mut [f32],
) {
    let c = scale.len();
    check_rows("scale_shift_clamp", x.len(), c);
    assert!(
        shift.len() == c && y.len() == x.len(),
        "scale_shift_clamp: lens"
    );
    let l = S::LANES;
    let full = c - c % l;
    // SAFETY: the caller guarantees S's features; every access is at channel j < C of a row
    // inside x / y (the tail is masked).
    unsafe {
        let vc = VClamp::<S>::new(clamp);
        let tail = S::mask(c % l);
        let (sc, sh) = (scale.as_ptr(), shift.as_ptr());
        for (yr, xr) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
            let (yp, xp) = (yr.as_mut_ptr(), xr.as_ptr());
            let mut j = 0;
            while j < full {
                let v = S::add(
                    S::mul(S::load(xp.add(j)), S::load(sc.add(j))),
                    S::load(sh.add(j)),
                );
                S::store(yp.add(j), vc.apply(v));
                j += l;
            }
            if j < c {
                let v = S::add(
                    S::mul(S::load_m(xp.add(j), tail), S::load_m(sc.add(j), tail)),
                    S::load_m(sh.add(j), tail),
                );
                S::store_m(yp.add(j), tail, vc.apply(v));
            }
        }
    }
}

/// `dβ[c] += Σ g`, `dγ[c] += Σ g·x̂` over da, z: (M, C), `g = da·[lo < z·scale + shift < hi]`,
/// `x̂ = (z − μ)·r`.
///
/// # Safety
/// Must run with `S`'s CPU features enabled. Lengths are checked here.
#[inline(always)]
pub(super) unsafe fn act_backward_sums<S: Simd>(
    da: &[f32],
    z: &[f32],
    stats: BnStats<'_>,
    clamp: Clamp,
    dbeta: &mut [f64],
    dgamma: &mut [f64],
) {
    let c = stats.mean.len();
    check_rows("batch_norm act_backward_sums", da.len(), c);
    assert!(z.len() == da.len(), "act_backward_sums: lens");
    assert!(
        stats.rstd.len() == c && stats.scale.len() == c && stats.shift.len() == c,
        "act_backward_sums: statistics lens"
    );
    assert!(
        dbeta.len() == c && dgamma.len() == c,
        "act_backward_sums: sum lens"
    );
    let l = S::LANES;
    let full = c / l;
    let gmax = if l >= 16 { 4 } else { 2 };
    let mut v = 0;
    // SAFETY: the caller guarantees S's features; each group reads channels
    // [v·L, v·L + G·L) (or the masked tail) of every row, all inside the slices.
    unsafe {
        while v < full {
            let g = group(v, full, gmax);
            let s = ActSlices {
                da,
                z,
                stats,
                clamp,
                c0: v * l,
            };
            let m = S::mask(l);
            match g {
                8 => act_group::<S, 8, false>(&s, m, dbeta, dgamma, 8 * l),
                4 => act_group::<S, 4, false>(&s, m, dbeta, dgamma, 4 * l),
                2 => act_group::<S, 2, false>(&s, m, dbeta, dgamma, 2 * l),
                _ => act_group::<S, 1, false>(&s, m, dbeta, dgamma, l),
            }
            v += g;
        }
        if !c.is_multiple_of(l) {
            let s = ActSlices {
                da,
                z,
                stats,
                clamp,
                c0: v * l,
            };
            act_group::<S, 1, true>(&s, S::mask(c % l), dbeta, dgamma, c % l);
        }
    }
}

struct ActSlices<'a> {
    da: &'a [f32],
    z: &'a [f32],
    stats: BnStats<'a>,
    clamp: Clamp,
    c0: usize,
}

/// Channels `[c0, c0 + n)` of `act_backward_sums`.
#[inline(always)]
unsafe fn act_group<S: Simd, const G: usize, const TAIL: bool>(
    s: &ActSlices<'_>,
    m: S::M,
    dbeta: &mut [f64],
    dgamma: &mut [f64],
    n: usize,
) {
    let c = s.stats.mean.len();
    let rows = s.da.len() / c;
    let (l, c0) = (S::LANES, s.c0);
    // SAFETY: see `act_backward_sums`; row `i` of the group starts at i·C + c0.
    unsafe {
        let zero = S::splat(0.0);
        let (lo, hi) = (S::splat(s.clamp.lo), S::splat(s.clamp.hi));
        let (mut mu, mut rs) = ([zero; G], [zero; G]);
        let (mut sc, mut sh) = ([zero; G], [zero; G]);
        for v in 0..G {
            mu[v] = ld::<S, TAIL>(s.stats.mean.as_ptr().add(c0 + v * l), m);
            rs[v] = ld::<S, TAIL>(s.stats.rstd.as_ptr().add(c0 + v * l), m);
            sc[v] = ld::<S, TAIL>(s.stats.scale.as_ptr().add(c0 + v * l), m);
            sh[v] = ld::<S, TAIL>(s.stats.shift.as_ptr().add(c0 + v * l), m);
        }
        let mut r = 0;
        while r < rows {
            let r1 = (r + FLUSH_ROWS).min(rows);
            let (mut sb, mut sg) = ([zero; G], [zero; G]);
            for i in r..r1 {
                let o = i * c + c0;
                let (dp, zp) = (s.da.as_ptr().add(o), s.z.as_ptr().add(o));
                for v in 0..G {
                    let zv = ld::<S, TAIL>(zp.add(v * l), m);
                    // The clamp's input, as the forward computed it (no FMA).
                    let av = S::add(S::mul(zv, sc[v]), sh[v]);
                    let g = S::gate(ld::<S, TAIL>(dp.add(v * l), m), av, lo, hi);
                    // Gated too, so that a non-finite z of a blocked unit adds nothing (the
                    // reference skips it).
                    let xhat = S::gate(S::mul(S::sub(zv, mu[v]), rs[v]), av, lo, hi);
                    sb[v] = S::add(sb[v], g);
                    sg[v] = S::fmadd(g, xhat, sg[v]);
                }
            }
            flush::<S, G>(&sb, &mut dbeta[c0..], n);
            flush::<S, G>(&sg, &mut dgamma[c0..], n);
            r = r1;
        }
    }
}

/// In place over d: (M, C): `dz = k·(g − mb − x̂·mg)`, `g = da·[lo < z·scale + shift < hi]`,
/// `x̂ = (z − μ)·r`.
///
/// # Safety
/// Must run with `S`'s CPU features enabled. Lengths are checked here.
#[inline(always)]
pub(super) unsafe fn act_backward_apply<S: Simd>(
    d: &mut [f32],
    z: &[f32],
    stats: BnStats<'_>,
    coef: BnBackward<'_>,
    clamp: Clamp,
) {
    let c = stats.mean.len();
    check_rows("batch_norm act_backward_apply", d.len(), c);
    assert!(z.len() == d.len(), "act_backward_apply: lens");
    assert!(
        stats.rstd.len() == c
            && stats.scale.len() == c
            && stats.shift.len() == c
            && coef.k.len() == c
            && coef.mb.len() == c
            && coef.mg.len() == c,
        "act_backward_apply: coefficient lens"
    );
    let l = S::LANES;
    // SAFETY: the caller guarantees S's features; every access is at channel j < C of a row
    // inside d, z or of a length-C coefficient slice (the tail is masked).
    unsafe {
        let (lo, hi) = (S::splat(clamp.lo), S::splat(clamp.hi));
        let (mu, rs) = (stats.mean.as_ptr(), stats.rstd.as_ptr());
        let (kp, mbp, mgp) = (coef.k.as_ptr(), coef.mb.as_ptr(), coef.mg.as_ptr());
        let (scp, shp) = (stats.scale.as_ptr(), stats.shift.as_ptr());
        for (dr, zr) in d.chunks_exact_mut(c).zip(z.chunks_exact(c)) {
            let (dp, zp) = (dr.as_mut_ptr(), zr.as_ptr());
            let full = c - c % l;
            let mut j = 0;
            while j < full {
                let v = apply_vec::<S, false>(
                    [dp as *const f32, zp, mu, rs, mbp, mgp, kp, scp, shp],
                    j,
                    S::mask(l),
                    lo,
                    hi,
                );
                S::store(dp.add(j), v);
                j += l;
            }
            if j < c {
                let m = S::mask(c - j);
                let v = apply_vec::<S, true>(
                    [dp as *const f32, zp, mu, rs, mbp, mgp, kp, scp, shp],
                    j,
                    m,
                    lo,
                    hi,
                );
                S::store_m(dp.add(j), m, v);
            }
        }
    }
}

/// One vector of `act_backward_apply` at channel `j`: `p` = [d, z, μ, r, mb, mg, k, scale,
/// shift].
#[inline(always)]
unsafe fn apply_vec<S: Simd, const TAIL: bool>(
    p: [*const f32; 9],
    j: usize,
    m: S::M,
    lo: S::V,
    hi: S::V,
) -> S::V {
    // SAFETY: forwarded contract of `act_backward_apply`: channel j (masked tail) of each.
    unsafe {
        let mut v = [S::splat(0.0); 9];
        for (vi, q) in v.iter_mut().zip(p) {
            *vi = ld::<S, TAIL>(q.add(j), m);
        }
        let [d, z, mu, rs, mb, mg, k, sc, sh] = v;
        let g = S::gate(d, S::add(S::mul(z, sc), sh), lo, hi);
        let xhat = S::mul(S::sub(z, mu), rs);
        S::mul(k, S::sub(S::sub(g, mb), S::mul(xhat, mg)))
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
