//! BatchNorm in training mode (Ioffe & Szegedy 2015), fused with the activation that follows it.
//! Activations are (M, C) row-major: M = N·H·W positions, C channels; statistics are per channel
//! over all M rows. The derivation is in `docs/backward.md`.
//!
//! Forward: `x̂ = (z − μ)·r` with `r = 1/√(σ² + ε)` (σ² biased), `a = clamp(γ·x̂ + β)`, run as
//! [`scale_shift_clamp`] with `scale = γ·r` and `shift = β − μ·γ·r`.
//!
//! Backward, with `g = da·[lo < z·scale + shift < hi]` (the clamp's derivative, recomputed from
//! z with the forward's own operations, so that the backward reads z and never the clamp's
//! output a: one stream less in each of its two passes):
//! `dβ = Σ g`, `dγ = Σ g·x̂`, `dz = γ·r·(g − dβ/M − x̂·dγ/M)`. [`act_backward_sums`] computes the
//! two sums (over any subset of rows, accumulated), [`act_backward_apply`] the last line.

use crate::geometry::Clamp;

/// Per-channel sums over the rows of `x: (M, C)`, accumulated:
/// `sum[c] += Σ (x − shift[c])`, `sumsq[c] += Σ (x − shift[c])²`. Shifting by a value near the
/// mean (the running mean) keeps `E[x²] − E[x]²` accurate.
pub fn sums(x: &[f32], shift: &[f32], sum: &mut [f64], sumsq: &mut [f64]) {
    let c = shift.len();
    check_rows("batch_norm sums", x.len(), c);
    assert!(
        sum.len() == c && sumsq.len() == c,
        "batch_norm sums: sum len"
    );
    for row in x.chunks_exact(c) {
        for ch in 0..c {
            let d = (row[ch] - shift[ch]) as f64;
            sum[ch] += d;
            sumsq[ch] += d * d;
        }
    }
}

/// `y = clamp(x·scale[c] + shift[c])` over `x, y: (M, C)`.
pub fn scale_shift_clamp(x: &[f32], scale: &[f32], shift: &[f32], clamp: Clamp, y: &mut [f32]) {
    let c = scale.len();
    check_rows("scale_shift_clamp", x.len(), c);
    assert!(
        shift.len() == c && y.len() == x.len(),
        "scale_shift_clamp: lens"
    );
    for (yr, xr) in y.chunks_exact_mut(c).zip(x.chunks_exact(c)) {
        for ch in 0..c {
            yr[ch] = clamp.apply(xr[ch] * scale[ch] + shift[ch]);
        }
    }
}

/// Whether the clamp passes the gradient at output `a` (strictly inside its range).
#[inline(always)]
pub fn passes(clamp: Clamp, a: f32) -> bool {
    a > clamp.lo && a < clamp.hi
}

/// The per-channel parameters of one BatchNorm backward: batch mean, `r = 1/√(σ² + ε)`, and
/// the forward's folded `scale = γ·r`, `shift = β − μ·γ·r` (the clamp's input was
/// `z·scale + shift`).
#[derive(Debug, Clone, Copy)]
pub struct BnStats<'a> {
    pub mean: &'a [f32],
    pub rstd: &'a [f32],
    pub scale: &'a [f32],
    pub shift: &'a [f32],
}

impl BnStats<'_> {
    fn check(&self, op: &str) {
        let c = self.mean.len();
        assert!(
            self.rstd.len() == c && self.scale.len() == c && self.shift.len() == c,
            "{op}: statistics lens"
        );
    }
}

/// Whether the clamp passed the gradient of channel `ch` at BatchNorm input `z`: the forward's
/// `a = clamp(z·scale + shift)` was strictly inside the clamp's range.
#[inline(always)]
pub fn passes_z(clamp: Clamp, stats: &BnStats<'_>, ch: usize, z: f32) -> bool {
    passes(clamp, z * stats.scale[ch] + stats.shift[ch])
}

/// Accumulates `dβ[c] += Σ g` and `dγ[c] += Σ g·x̂` over the rows of `da, z: (M, C)`.
pub fn act_backward_sums(
    da: &[f32],
    z: &[f32],
    stats: BnStats<'_>,
    clamp: Clamp,
    dbeta: &mut [f64],
    dgamma: &mut [f64],
) {
    let c = stats.mean.len();
    check_rows("batch_norm act_backward_sums", da.len(), c);
    stats.check("act_backward_sums");
    assert!(z.len() == da.len(), "act_backward_sums: lens");
    assert!(
        dbeta.len() == c && dgamma.len() == c,
        "act_backward_sums: sum lens"
    );
    for (dr, zr) in da.chunks_exact(c).zip(z.chunks_exact(c)) {
        for ch in 0..c {
            if passes_z(clamp, &stats, ch, zr[ch]) {
                let g = dr[ch] as f64;
                dbeta[ch] += g;
                dgamma[ch] += g * ((zr[ch] - stats.mean[ch]) * stats.rstd[ch]) as f64;
            }
        }
    }
}

/// The coefficients of [`act_backward_apply`], per channel: `k = γ·r`, `mb = dβ/M`, `mg = dγ/M`.
#[derive(Debug, Clone, Copy)]
pub struct BnBackward<'a> {
    pub k: &'a [f32],
    pub mb: &'a [f32],
    pub mg: &'a [f32],
}

/// In place over `d: (M, C)`, which holds `da` on entry and `dz` on return:
/// `dz = k·(g − mb − x̂·mg)` with `g = da·[lo < z·scale + shift < hi]`, `x̂ = (z − μ)·r`.
pub fn act_backward_apply(
    d: &mut [f32],
    z: &[f32],
    stats: BnStats<'_>,
    coef: BnBackward<'_>,
    clamp: Clamp,
) {
    let c = stats.mean.len();
    check_rows("batch_norm act_backward_apply", d.len(), c);
    stats.check("act_backward_apply");
    assert!(z.len() == d.len(), "act_backward_apply: lens");
    for (dr, zr) in d.chunks_exact_mut(c).zip(z.chunks_exact(c)) {
        for ch in 0..c {
            let g = if passes_z(clamp, &stats, ch, zr[ch]) {
                dr[ch]
            } else {
                0.0
            };
            let xhat = (zr[ch] - stats.mean[ch]) * stats.rstd[ch];
            dr[ch] = coef.k[ch] * (g - coef.mb[ch] - xhat * coef.mg[ch]);
        }
    }
}

fn check_rows(op: &str, len: usize, c: usize) {
    assert!(
        c > 0 && len.is_multiple_of(c),
        "{op}: len {len} not a multiple of {c} channels"
    );
}
