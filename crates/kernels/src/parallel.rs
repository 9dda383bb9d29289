//! Whole-layer entry points that split the work over the current rayon pool and call the
//! single-threaded kernels of a [`Kernels`] table. Callers control the thread count by running
//! inside `ThreadPool::install`.

use rayon::prelude::*;

use crate::dispatch::Kernels;
use crate::geometry::{Clamp, ConvArgs, DwArgs};

/// Output rows per task: enough tasks to balance the pool, few enough to keep overhead low.
fn rows_per_task(rows: usize, images: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let tasks_per_image = (threads * 2).div_ceil(images).max(1);
    rows.div_ceil(tasks_per_image).max(1)
}

/// Depthwise 3×3 over a batch: x: (N, H, W, C), y: (N, OH, OW, C).
pub fn dwconv3x3(
    k: &Kernels,
    args: &DwArgs,
    n: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    y: &mut [f32],
) {
    let g = &args.geom;
    let (oh, ow, c) = (g.out_h(), g.out_w(), args.c);
    let in_len = g.in_h * g.in_w * c;
    let out_len = oh * ow * c;
    assert_eq!(x.len(), n * in_len, "dwconv3x3: x len");
    assert_eq!(y.len(), n * out_len, "dwconv3x3: y len");
    let rpt = rows_per_task(oh, n);
    y.par_chunks_mut(out_len)
        .zip(x.par_chunks(in_len))
        .for_each(|(yi, xi)| {
            yi.par_chunks_mut(rpt * ow * c)
                .enumerate()
                .for_each(|(t, yc)| {
                    let r0 = t * rpt;
                    let r1 = r0 + yc.len() / (ow * c);
                    (k.dwconv3x3)(args, xi, w, b, clamp, r0..r1, yc);
                });
        });
}

/// Dense 3×3 over a batch: x: (N, H, W, Cin), y: (N, OH, OW, Cout).
pub fn conv3x3(
    k: &Kernels,
    args: &ConvArgs,
    n: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    y: &mut [f32],
) {
    let g = &args.geom;
    let (oh, ow) = (g.out_h(), g.out_w());
    let in_len = g.in_h * g.in_w * args.cin;
    let out_len = oh * ow * args.cout;
    assert_eq!(x.len(), n * in_len, "conv3x3: x len");
    assert_eq!(y.len(), n * out_len, "conv3x3: y len");
    let rpt = rows_per_task(oh, n);
    y.par_chunks_mut(out_len)
        .zip(x.par_chunks(in_len))
        .for_each(|(yi, xi)| {
            yi.par_chunks_mut(rpt * ow * args.cout)
                .enumerate()
                .for_each(|(t, yc)| {
                    let r0 = t * rpt;
                    let r1 = r0 + yc.len() / (ow * args.cout);
                    (k.conv3x3)(args, xi, w, b, clamp, r0..r1, yc);
                });
        });
}

/// Pointwise convolution / fully connected over M rows: x: (M, K), w: (K, N), b: (N), y: (M, N).
/// `y = clamp(x · w + b)`.
pub fn pointwise(
    kern: &Kernels,
    m: usize,
    n: usize,
    k: usize,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    y: &mut [f32],
) {
    assert_eq!(x.len(), m * k, "pointwise: x len");
    assert_eq!(y.len(), m * n, "pointwise: y len");
    let threads = rayon::current_num_threads().max(1);
    let rpt = m.div_ceil(threads).max(1);
    y.par_chunks_mut(rpt * n)
        .zip(x.par_chunks(rpt * k))
        .for_each(|(yc, xc)| {
            let rows = yc.len() / n;
            crate::gemm::pointwise(rows, n, k, xc, w, b, clamp, yc, kern.bias_clamp);
        });
}

/// Global average pool over a batch: x: (N, HW, C), y: (N, C).
pub fn global_avg_pool(k: &Kernels, n: usize, c: usize, x: &[f32], y: &mut [f32]) {
    assert_eq!(y.len(), n * c, "global_avg_pool: y len");
    assert!(n > 0 && x.len().is_multiple_of(n), "global_avg_pool: x len");
    let per = x.len() / n;
    y.par_chunks_mut(c)
        .zip(x.par_chunks(per))
        .for_each(|(yi, xi)| (k.global_avg_pool)(xi, c, yi));
}
