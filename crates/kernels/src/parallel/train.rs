//! Whole-batch entry points of training: BatchNorm statistics and its fused backward, the
//! depthwise and dense 3×3 gradients, and the two GEMM shapes of the pointwise backward.
//!
//! Determinism: work is cut into chunks whose boundaries depend only on the shapes, never on
//! the thread count, and partial sums are added in chunk order. Every result is therefore
//! bit-identical for any number of threads (for one kernel table).
//!
//! Scratch memory comes from a caller-owned [`Workspace`] that grows to the largest request and
//! is then reused: a training step allocates nothing once the first step has run.

use rayon::prelude::*;

use crate::dispatch::Kernels;
use crate::gemm;
use crate::geometry::{Clamp, ConvArgs, DwArgs};
use crate::reference::batch_norm::{BnBackward, BnStats};

/// Reusable scratch buffers for the reductions below.
#[derive(Debug, Default)]
pub struct Workspace {
    f32s: Vec<f32>,
    f64s: Vec<f64>,
}

impl Workspace {
    fn f32s(&mut self, len: usize) -> &mut [f32] {
        if self.f32s.len() < len {
            self.f32s.resize(len, 0.0);
        }
        &mut self.f32s[..len]
    }

    fn f64s(&mut self, len: usize) -> &mut [f64] {
        if self.f64s.len() < len {
            self.f64s.resize(len, 0.0);
        }
        &mut self.f64s[..len]
    }

    /// Bytes currently held.
    pub fn bytes(&self) -> usize {
        self.f32s.len() * 4 + self.f64s.len() * 8
    }
}

/// Elements per chunk of the per-channel reductions and elementwise passes.
const ELEMS_PER_CHUNK: usize = 1 << 15;

/// Rows per chunk of an (M, C) activation.
fn rows_per_chunk(c: usize) -> usize {
    (ELEMS_PER_CHUNK / c.max(1)).max(1)
}

/// Per-channel `Σ (x − shift)` and `Σ (x − shift)²` over x: (M, C), written into `sum` and
/// `sumsq` (overwritten).
pub fn bn_sums(
    k: &Kernels,
    x: &[f32],
    shift: &[f32],
    sum: &mut [f64],
    sumsq: &mut [f64],
    ws: &mut Workspace,
) {
    let c = shift.len();
    assert!(c > 0 && x.len().is_multiple_of(c), "bn_sums: x len");
    let rows = rows_per_chunk(c);
    let chunks = (x.len() / c).div_ceil(rows);
    let part = ws.f64s(chunks * 2 * c);
    part.fill(0.0);
    part.par_chunks_mut(2 * c)
        .zip(x.par_chunks(rows * c))
        .for_each(|(p, xc)| {
            let (s, s2) = p.split_at_mut(c);
            (k.bn_sums)(xc, shift, s, s2);
        });
    sum.fill(0.0);
    sumsq.fill(0.0);
    for p in part.chunks_exact(2 * c) {
        for ch in 0..c {
            sum[ch] += p[ch];
            sumsq[ch] += p[c + ch];
        }
    }
}

/// `y = clamp(x·scale + shift)` per channel over x, y: (M, C).
pub fn scale_shift_clamp(
    k: &Kernels,
    x: &[f32],
    scale: &[f32],
    shift: &[f32],
    clamp: Clamp,
    y: &mut [f32],
) {
    let c = scale.len();
    assert_eq!(x.len(), y.len(), "scale_shift_clamp: lens");
    let rows = rows_per_chunk(c);
    y.par_chunks_mut(rows * c)
        .zip(x.par_chunks(rows * c))
        .for_each(|(yc, xc)| (k.scale_shift_clamp)(xc, scale, shift, clamp, yc));
}

/// BatchNorm + clamp backward over (M, C): `d` holds dL/da on entry and dL/dz on return; `z`
/// is the BatchNorm's input, `stats` the batch statistics and folded scale and shift of the
/// forward pass (the clamp's derivative is recomputed from them, so the clamp's output is not
/// read). Writes `dgamma` and `dbeta` (overwritten).
pub fn bn_act_backward(
    k: &Kernels,
    d: &mut [f32],
    z: &[f32],
    stats: BnStats<'_>,
    gamma: &[f32],
    clamp: Clamp,
    dgamma: &mut [f32],
    dbeta: &mut [f32],
    ws: &mut Workspace,
) {
    let c = gamma.len();
    assert!(c > 0 && d.len().is_multiple_of(c), "bn_act_backward: d len");
    assert!(z.len() == d.len(), "bn_act_backward: lens");
    let m = d.len() / c;
    let rows = rows_per_chunk(c);
    let chunks = m.div_ceil(rows);
    {
        let buf = ws.f64s((chunks + 1) * 2 * c);
        buf.fill(0.0);
        let (total, part) = buf.split_at_mut(2 * c);
        part.par_chunks_mut(2 * c)
            .zip(d.par_chunks(rows * c))
            .zip(z.par_chunks(rows * c))
            .for_each(|((p, dc), zc)| {
                let (sb, sg) = p.split_at_mut(c);
                (k.bn_act_backward_sums)(dc, zc, stats, clamp, sb, sg);
            });
        let (sb, sg) = total.split_at_mut(c);
        for p in part.chunks_exact(2 * c) {
            for ch in 0..c {
                sb[ch] += p[ch];
                sg[ch] += p[c + ch];
            }
        }
        for ch in 0..c {
            dbeta[ch] = sb[ch] as f32;
            dgamma[ch] = sg[ch] as f32;
        }
    }
    let coef = ws.f32s(3 * c);
    let (kk, rest) = coef.split_at_mut(c);
    let (mb, mg) = rest.split_at_mut(c);
    let inv_m = 1.0 / m as f64;
    for ch in 0..c {
        kk[ch] = gamma[ch] * stats.rstd[ch];
        mb[ch] = (dbeta[ch] as f64 * inv_m) as f32;
        mg[ch] = (dgamma[ch] as f64 * inv_m) as f32;
    }
    let coef = BnBackward { k: kk, mb, mg };
    d.par_chunks_mut(rows * c)
        .zip(z.par_chunks(rows * c))
        .for_each(|(dc, zc)| (k.bn_act_backward_apply)(dc, zc, stats, coef, clamp));
}

/// Input rows per task of the 3×3 input gradients.
const DX_ROWS_PER_TASK: usize = 4;

/// Depthwise 3×3 input gradient over a batch: dy: (N, OH, OW, C), w: (3, 3, C),
/// dx: (N, H, W, C) overwritten.
pub fn dwconv3x3_backward_input(
    k: &Kernels,
    args: &DwArgs,
    n: usize,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
) {
    let g = &args.geom;
    let c = args.c;
    let (in_len, out_len) = (g.in_h * g.in_w * c, g.out_h() * g.out_w() * c);
    assert_eq!(dy.len(), n * out_len, "dwconv3x3_backward_input: dy len");
    assert_eq!(dx.len(), n * in_len, "dwconv3x3_backward_input: dx len");
    let band = DX_ROWS_PER_TASK * g.in_w * c;
    dx.par_chunks_mut(in_len)
        .zip(dy.par_chunks(out_len))
        .for_each(|(dxi, dyi)| {
            dxi.par_chunks_mut(band).enumerate().for_each(|(t, dxc)| {
                let r0 = t * DX_ROWS_PER_TASK;
                let r1 = r0 + dxc.len() / (g.in_w * c);
                (k.dwconv3x3_backward_input)(args, dyi, w, r0..r1, dxc);
            });
        });
}

/// Images per partial sum of the depthwise filter gradient.
const DW_IMAGES_PER_TASK: usize = 4;

/// Depthwise 3×3 filter gradient over a batch: x: (N, H, W, C), dy: (N, OH, OW, C),
/// dw: (3, 3, C) overwritten.
pub fn dwconv3x3_backward_filter(
    k: &Kernels,
    args: &DwArgs,
    n: usize,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    ws: &mut Workspace,
) {
    let g = &args.geom;
    let c = args.c;
    let (in_len, out_len, oh) = (g.in_h * g.in_w * c, g.out_h() * g.out_w() * c, g.out_h());
    assert_eq!(x.len(), n * in_len, "dwconv3x3_backward_filter: x len");
    assert_eq!(dy.len(), n * out_len, "dwconv3x3_backward_filter: dy len");
    assert_eq!(dw.len(), 9 * c, "dwconv3x3_backward_filter: dw len");
    let tasks = n.div_ceil(DW_IMAGES_PER_TASK);
    let part = ws.f32s(tasks * 9 * c);
    part.fill(0.0);
    part.par_chunks_mut(9 * c)
        .zip(x.par_chunks(DW_IMAGES_PER_TASK * in_len))
        .zip(dy.par_chunks(DW_IMAGES_PER_TASK * out_len))
        .for_each(|((p, xs), dys)| {
            for (xi, dyi) in xs.chunks_exact(in_len).zip(dys.chunks_exact(out_len)) {
                (k.dwconv3x3_backward_filter)(args, xi, dyi, 0..oh, p);
            }
        });
    sum_parts(part, dw);
}

/// `out = Σ parts` in order, `parts` being consecutive `out.len()`-long partial results.
fn sum_parts(parts: &[f32], out: &mut [f32]) {
    let len = out.len();
    out.copy_from_slice(&parts[..len]);
    for p in parts[len..].chunks_exact(len) {
        for (o, v) in out.iter_mut().zip(p) {
            *o += v;
        }
    }
}

/// im2col of a batch for a 3×3 convolution: x: (N, H, W, Cin) → col: (N·OH·OW, 9·Cin), row
/// `(n, oy, ox)` holding the 3×3×Cin patch in (kh, kw, ci) order, zeros outside the image.
pub fn im2col3x3(args: &ConvArgs, n: usize, x: &[f32], col: &mut [f32]) {
    let g = &args.geom;
    let cin = args.cin;
    let (oh, ow) = (g.out_h(), g.out_w());
    let in_len = g.in_h * g.in_w * cin;
    let row = 9 * cin;
    assert_eq!(x.len(), n * in_len, "im2col3x3: x len");
    assert_eq!(col.len(), n * oh * ow * row, "im2col3x3: col len");
    col.par_chunks_mut(ow * row)
        .enumerate()
        .for_each(|(t, cr)| {
            let (img, oy) = (t / oh, t % oh);
            let xi = &x[img * in_len..][..in_len];
            for ox in 0..ow {
                let dst = &mut cr[ox * row..][..row];
                for kh in 0..3 {
                    let iy = (oy * g.stride + kh) as isize - g.pad.top as isize;
                    for kw in 0..3 {
                        let ix = (ox * g.stride + kw) as isize - g.pad.left as isize;
                        let d = &mut dst[(kh * 3 + kw) * cin..][..cin];
                        if iy < 0 || iy >= g.in_h as isize || ix < 0 || ix >= g.in_w as isize {
                            d.fill(0.0);
                        } else {
                            d.copy_from_slice(
                                &xi[(iy as usize * g.in_w + ix as usize) * cin..][..cin],
                            );
                        }
                    }
                }
            }
        });
}

/// col2im, the adjoint of [`im2col3x3`]: dx[n, iy, ix, ci] = Σ of every col entry that copied
/// it. dcol: (N·OH·OW, 9·Cin), dx: (N, H, W, Cin) overwritten.
pub fn col2im3x3(args: &ConvArgs, n: usize, dcol: &[f32], dx: &mut [f32]) {
    let g = &args.geom;
    let cin = args.cin;
    let (oh, ow) = (g.out_h(), g.out_w());
    let in_len = g.in_h * g.in_w * cin;
    let row = 9 * cin;
    assert_eq!(dx.len(), n * in_len, "col2im3x3: dx len");
    assert_eq!(dcol.len(), n * oh * ow * row, "col2im3x3: dcol len");
    dx.par_chunks_mut(in_len)
        .enumerate()
        .for_each(|(img, dxi)| {
            dxi.fill(0.0);
            let dc = &dcol[img * oh * ow * row..][..oh * ow * row];
            for oy in 0..oh {
                for ox in 0..ow {
                    let src = &dc[(oy * ow + ox) * row..][..row];
                    for kh in 0..3 {
                        let iy = (oy * g.stride + kh) as isize - g.pad.top as isize;
                        if iy < 0 || iy >= g.in_h as isize {
                            continue;
                        }
                        for kw in 0..3 {
                            let ix = (ox * g.stride + kw) as isize - g.pad.left as isize;
                            if ix < 0 || ix >= g.in_w as isize {
                                continue;
                            }
                            let d = &mut dxi[(iy as usize * g.in_w + ix as usize) * cin..][..cin];
                            for (o, v) in d.iter_mut().zip(&src[(kh * 3 + kw) * cin..][..cin]) {
                                *o += v;
                            }
                        }
                    }
                }
            }
        });
}

/// Dense 3×3 filter gradient over a batch through im2col and one GEMM:
/// `dw (9·Cin, Cout) = colᵀ · dy`. x: (N, H, W, Cin), dy: (N, OH, OW, Cout), dw overwritten.
/// `col` is scratch of `N·OH·OW·9·Cin` floats (resized as needed).
pub fn conv3x3_backward_filter(
    args: &ConvArgs,
    n: usize,
    x: &[f32],
    dy: &[f32],
    dw: &mut [f32],
    col: &mut Vec<f32>,
    ws: &mut Workspace,
) {
    let g = &args.geom;
    let m = n * g.out_h() * g.out_w();
    let kk = 9 * args.cin;
    col.resize(m * kk, 0.0);
    im2col3x3(args, n, x, col);
    matmul_tn(kk, args.cout, m, col, dy, dw, ws);
}

/// Dense 3×3 input gradient over a batch: `dcol = dy · wᵀ`, then col2im.
/// dy: (N, OH, OW, Cout), w: (3, 3, Cin, Cout), dx: (N, H, W, Cin) overwritten.
pub fn conv3x3_backward_input(
    args: &ConvArgs,
    n: usize,
    dy: &[f32],
    w: &[f32],
    dx: &mut [f32],
    col: &mut Vec<f32>,
) {
    let g = &args.geom;
    let m = n * g.out_h() * g.out_w();
    let kk = 9 * args.cin;
    col.resize(m * kk, 0.0);
    // w is (9·Cin, Cout) row-major: dcol (M, 9·Cin) = dy (M, Cout) · wᵀ.
    matmul_nt(m, kk, args.cout, dy, w, col);
    col2im3x3(args, n, col, dx);
}

/// Rows of `c` per task of [`matmul_nt`] (and of the row-split [`matmul_tn`]).
const GEMM_ROWS_PER_TASK: usize = 256;

/// `c = a · bᵀ` over the pool: a: (M, K), b: (N, K), c: (M, N). Bands of rows of `a` and `c`.
pub fn matmul_nt(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert_eq!(a.len(), m * k, "matmul_nt: a len");
    assert_eq!(c.len(), m * n, "matmul_nt: c len");
    if m == 0 || n == 0 {
        return;
    }
    let rows = if m >= 2 * GEMM_ROWS_PER_TASK {
        GEMM_ROWS_PER_TASK
    } else {
        m
    };
    if rows == m && m * n * k >= 1 << 22 && n >= 128 {
        // A short, wide product (the classifier, the 2×2 layers): split the columns.
        let cols = 64;
        let mut parts: Vec<(usize, Vec<f32>)> = (0..n.div_ceil(cols))
            .into_par_iter()
            .map(|t| {
                let (j0, j1) = (t * cols, ((t + 1) * cols).min(n));
                let mut out = vec![0.0f32; m * (j1 - j0)];
                gemm::sgemm_nt(m, j1 - j0, k, a, &b[j0 * k..j1 * k], &mut out, false);
                (j0, out)
            })
            .collect();
        for (j0, out) in parts.drain(..) {
            let w = out.len() / m;
            for i in 0..m {
                c[i * n + j0..i * n + j0 + w].copy_from_slice(&out[i * w..(i + 1) * w]);
            }
        }
        return;
    }
    c.par_chunks_mut(rows * n)
        .zip(a.par_chunks(rows * k))
        .for_each(|(cc, ac)| gemm::sgemm_nt(ac.len() / k, n, k, ac, b, cc, false));
}

/// Rows of the reduction dimension per partial product of [`matmul_tn`].
const TN_K_PER_TASK: usize = 4096;

/// `c = aᵀ · b` over the pool: a: (K, M), b: (K, N), c: (M, N). A long reduction (K, the
/// batch's pixel count) is cut into fixed chunks whose partial products are summed in order;
/// a short one splits the rows of `c`.
pub fn matmul_tn(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    ws: &mut Workspace,
) {
    assert_eq!(a.len(), k * m, "matmul_tn: a len");
    assert_eq!(b.len(), k * n, "matmul_tn: b len");
    assert_eq!(c.len(), m * n, "matmul_tn: c len");
    if m == 0 || n == 0 {
        return;
    }
    let chunks = k.div_ceil(TN_K_PER_TASK);
    if chunks >= 2 {
        let part = ws.f32s(chunks * m * n);
        part.par_chunks_mut(m * n).enumerate().for_each(|(t, p)| {
            let (k0, k1) = (t * TN_K_PER_TASK, ((t + 1) * TN_K_PER_TASK).min(k));
            gemm::sgemm_tn(
                m,
                n,
                k1 - k0,
                &a[k0 * m..k1 * m],
                &b[k0 * n..k1 * n],
                p,
                false,
            );
        });
        sum_parts(part, c);
        return;
    }
    // Short reduction: each task computes a band of rows of c, i.e. a band of columns of a.
    let rows = GEMM_ROWS_PER_TASK.min(m).max(1).min(m.div_ceil(2).max(1));
    c.par_chunks_mut(rows * n).enumerate().for_each(|(t, p)| {
        let (i0, i1) = (t * rows, ((t + 1) * rows).min(m));
        gemm::sgemm_tn_cols(i0..i1, m, n, k, a, b, p);
    });
}
