//! Whole-layer entry points that split the work into tasks and call the single-threaded
//! kernels of a [`Kernels`] table. Callers control the thread count by running inside
//! `ThreadPool::install`; inside [`team::with_team`] (inference) the tasks run on a team of
//! spinning threads of that size, elsewhere (training) on the rayon pool.

use std::ops::Range;

use crate::dispatch::Kernels;
use crate::gemm::{self, MatMut, MatRef};
use crate::geometry::{Clamp, ConvArgs, DwArgs};
use crate::packed::PackedWeights;

/// Images × bands of output rows, about two tasks per thread: `(image, rows, y rows)` for
/// y: (N, OH, row_len).
pub fn image_row_bands<T>(
    y: &mut [T],
    n: usize,
    oh: usize,
    row_len: usize,
) -> Vec<(usize, Range<usize>, &mut [T])> {
    assert_eq!(y.len(), n * oh * row_len, "image_row_bands: y len");
    if y.is_empty() {
        return Vec::new();
    }
    let tasks_per_image = (team::threads() * 2).div_ceil(n).max(1);
    let rows = oh.div_ceil(tasks_per_image).max(1);
    let mut parts = Vec::with_capacity(n * oh.div_ceil(rows));
    for (img, yi) in y.chunks_mut(oh * row_len).enumerate() {
        for (t, yc) in yi.chunks_mut(rows * row_len).enumerate() {
            let r0 = t * rows;
            parts.push((img, r0..r0 + yc.len() / row_len, yc));
        }
    }
    parts
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
    assert_eq!(x.len(), n * in_len, "dwconv3x3: x len");
    assert_eq!(y.len(), n * oh * ow * c, "dwconv3x3: y len");
    team::run(image_row_bands(y, n, oh, ow * c), |(img, rows, yc)| {
        (k.dwconv3x3)(args, &x[img * in_len..][..in_len], w, b, clamp, rows, yc)
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
    assert_eq!(x.len(), n * in_len, "conv3x3: x len");
    assert_eq!(y.len(), n * oh * ow * args.cout, "conv3x3: y len");
    team::run(
        image_row_bands(y, n, oh, ow * args.cout),
        |(img, rows, yc)| (k.conv3x3)(args, &x[img * in_len..][..in_len], w, b, clamp, rows, yc),
    );
}

/// Pointwise convolution / fully connected over M rows: x: (M, K), w: (K, N), b: (N), y: (M, N).
/// `y = clamp(x · w + b)`.
///
/// The gemm crate runs single-threaded; the split is ours. Tall products (M ≥ [`COL_SPLIT_M`])
/// give each thread a band of rows; short, wide ones (the 7×7 layers and the classifier,
/// M = 49 or the batch) give each thread a band of columns of `w` and `y`, because a row split
/// would leave each thread a sliver of rows too thin for gemm's microkernel. Within a task the
/// output is produced in row blocks of about [`ROW_BLOCK_BYTES`], each followed at once by
/// the bias + clamp epilogue while it is still in cache.
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
    assert_eq!(w.len(), k * n, "pointwise: w len");
    assert_eq!(b.len(), n, "pointwise: b len");
    assert_eq!(y.len(), m * n, "pointwise: y len");
    if m == 0 || n == 0 {
        return;
    }
    let (a, wm, c) = (
        MatRef::new(x, m, k),
        MatRef::new(w, k, n),
        MatMut::new(y, m, n),
    );
    let threads = team::threads();
    // Below ~2 MFLOP a task costs more to hand out than it saves.
    let tasks = threads.min((m * n * k).div_ceil(1 << 20)).max(1);
    if tasks == 1 {
        return pointwise_task(kern, a, wm, c, b, clamp);
    }
    let mut parts = Vec::with_capacity(tasks);
    if m >= COL_SPLIT_M || n < 2 * COL_BLOCK {
        let rows = m.div_ceil(tasks);
        let mut rest = c;
        let mut r0 = 0;
        while r0 < m {
            let r1 = (r0 + rows).min(m);
            let (head, tail) = rest.split_rows(r1 - r0);
            parts.push((a.rows_range(r0, r1), wm, head, b));
            rest = tail;
            r0 = r1;
        }
    } else {
        // Column bands in multiples of COL_BLOCK so every band keeps whole microkernel tiles.
        let cols = n.div_ceil(tasks).div_ceil(COL_BLOCK) * COL_BLOCK;
        let mut rest = c;
        let mut c0 = 0;
        while c0 < n {
            let c1 = (c0 + cols).min(n);
            let (head, tail) = rest.split_cols(c1 - c0);
            parts.push((a, wm.cols_range(c0, c1), head, &b[c0..c1]));
            rest = tail;
            c0 = c1;
        }
    }
    team::run(parts, |(a, wm, c, b)| {
        pointwise_task(kern, a, wm, c, b, clamp)
    });
}

/// Products with fewer rows than this are split over threads by columns.
const COL_SPLIT_M: usize = 128;
/// Column bands are multiples of this many columns.
const COL_BLOCK: usize = 64;
/// Target size of one row block of output (GEMM, then epilogue while hot).
const ROW_BLOCK_BYTES: usize = 256 << 10;

/// Fewer rows per gemm call than this cost more in gemm's per-call packing than the hot
/// epilogue saves (measured with `examples/timing.rs`).
const MIN_ROW_BLOCK: usize = 512;

/// One thread's share of [`pointwise`]: `c = clamp(a · w + b)` in row blocks.
fn pointwise_task(
    kern: &Kernels,
    a: MatRef<'_>,
    w: MatRef<'_>,
    c: MatMut<'_>,
    b: &[f32],
    clamp: Clamp,
) {
    let (m, n) = (c.rows(), c.cols());
    let block = (ROW_BLOCK_BYTES / (4 * n)).max(MIN_ROW_BLOCK);
    let mut rest = c;
    let mut r0 = 0;
    while r0 < m {
        let r1 = (r0 + block).min(m);
        let (mut head, tail) = rest.split_rows(r1 - r0);
        gemm::sgemm_view(a.rows_range(r0, r1), w, head.reborrow(), false);
        for i in 0..r1 - r0 {
            (kern.bias_clamp)(head.row_mut(i), b, clamp);
        }
        rest = tail;
        r0 = r1;
    }
}

/// Pointwise convolution / fully connected over M rows on weights packed once at load:
/// x: (M, K), w: (K, N) packed, b: (N), y: (M, N). `y = clamp(x · w + b)` through the table's
/// `pointwise_packed` (bias and clamp fused in its epilogue).
///
/// Tall products (M ≥ [`COL_SPLIT_M`]) give each thread a band of rows, a multiple of
/// [`ROW_QUANTUM`] so every band keeps whole AVX-512 tiles; short, wide ones (the 7×7 layers,
/// the classifier) give each thread a band of weight panels and the matching columns of `y`.
pub fn pointwise_packed(
    kern: &Kernels,
    m: usize,
    x: &[f32],
    w: &PackedWeights,
    b: &[f32],
    clamp: Clamp,
    y: &mut [f32],
) {
    let (k, n, panels) = (w.k, w.n, w.panels());
    assert_eq!(x.len(), m * k, "pointwise_packed: x len");
    assert_eq!(b.len(), n, "pointwise_packed: b len");
    assert_eq!(y.len(), m * n, "pointwise_packed: y len");
    if m == 0 || n == 0 {
        return;
    }
    let threads = team::threads();
    // Below ~2 MFLOP a task costs more to hand out than it saves.
    let tasks = threads.min((m * n * k).div_ceil(1 << 20)).max(1);
    let c = MatMut::new(y, m, n);
    if tasks == 1 {
        return (kern.pointwise_packed)(x, w, b, clamp, 0..panels, c);
    }
    let mut parts = Vec::with_capacity(tasks);
    if m >= COL_SPLIT_M || panels < 2 {
        let rows = m.div_ceil(tasks).div_ceil(ROW_QUANTUM) * ROW_QUANTUM;
        let mut rest = c;
        let mut r0 = 0;
        while r0 < m {
            let r1 = (r0 + rows).min(m);
            let (head, tail) = rest.split_rows(r1 - r0);
            parts.push((&x[r0 * k..r1 * k], 0..panels, head));
            rest = tail;
            r0 = r1;
        }
    } else {
        let per = panels.div_ceil(tasks);
        let mut rest = c;
        let mut p0 = 0;
        while p0 < panels {
            let p1 = (p0 + per).min(panels);
            let (head, tail) = rest.split_cols(w.cols(p0..p1).len());
            parts.push((x, p0..p1, head));
            rest = tail;
            p0 = p1;
        }
    }
    team::run(parts, |(x, panels, c)| {
        (kern.pointwise_packed)(x, w, b, clamp, panels, c)
    });
}

/// Row bands of [`pointwise_packed`] are multiples of this (the AVX-512 tile height).
const ROW_QUANTUM: usize = 14;

/// Global average pool over a batch: x: (N, HW, C), y: (N, C).
pub fn global_avg_pool(k: &Kernels, n: usize, c: usize, x: &[f32], y: &mut [f32]) {
    assert_eq!(y.len(), n * c, "global_avg_pool: y len");
    assert!(n > 0 && x.len().is_multiple_of(n), "global_avg_pool: x len");
    let per = x.len() / n;
    let parts: Vec<_> = y.chunks_mut(c).zip(x.chunks(per)).collect();
    team::run(parts, |(yi, xi)| (k.global_avg_pool)(xi, c, yi));
}

pub mod q8;
pub mod team;
pub mod train;
