//! Whole-layer entry points of the quantized kernels, split over the current rayon pool:
//! row blocks of whole GEMM tiles for the pointwise layers, element ranges for the
//! (de)quantization passes.

use rayon::prelude::*;

use crate::dispatch::Kernels;
use crate::geometry::DwArgs;
use crate::qdepthwise::QDepthwise;
use crate::qpacked::QPointwise;
use crate::quant::Epilogue;

/// Rows of a 6-row GEMM tile: tasks are cut at multiples of it.
const TILE_ROWS: usize = 6;

/// Elements per (de)quantization task, at least.
const MIN_CHUNK: usize = 16 * 1024;

/// x: (M, K) → y: (M, N), all panels.
pub fn pointwise(k: &Kernels, x: &[u8], p: &QPointwise, y: &mut [u8]) {
    let m = x.len().checked_div(p.k).unwrap_or(0);
    assert_eq!(y.len(), m * p.n, "q8 pointwise: y is not (M, N)");
    let threads = rayon::current_num_threads().max(1);
    let tiles = m.div_ceil(TILE_ROWS);
    let rows = tiles.div_ceil(threads * 2).max(1) * TILE_ROWS;
    if threads == 1 || m <= TILE_ROWS {
        (k.q8.pointwise)(x, p, 0..p.panels(), y);
        return;
    }
    y.par_chunks_mut(rows * p.n)
        .zip(x.par_chunks(rows * p.k))
        .for_each(|(y, x)| (k.q8.pointwise)(x, p, 0..p.panels(), y));
}

/// Depthwise 3×3 over a batch: x: (N, H, W, C) u8, y: (N, OH, OW, C) u8, split into images ×
/// bands of output rows (about two tasks per thread).
pub fn dwconv3x3(k: &Kernels, args: &DwArgs, n: usize, x: &[u8], p: &QDepthwise, y: &mut [u8]) {
    let g = &args.geom;
    let (oh, ow, c) = (g.out_h(), g.out_w(), args.c);
    let in_len = g.in_h * g.in_w * c;
    let out_len = oh * ow * c;
    assert_eq!(x.len(), n * in_len, "q8 dwconv3x3: x len");
    assert_eq!(y.len(), n * out_len, "q8 dwconv3x3: y len");
    if out_len == 0 {
        return;
    }
    let threads = rayon::current_num_threads().max(1);
    let tasks_per_image = (threads * 2).div_ceil(n).max(1);
    let rows = oh.div_ceil(tasks_per_image).max(1);
    y.par_chunks_mut(out_len)
        .zip(x.par_chunks(in_len))
        .for_each(|(yi, xi)| {
            yi.par_chunks_mut(rows * ow * c)
                .enumerate()
                .for_each(|(t, yc)| {
                    let r0 = t * rows;
                    let r1 = r0 + yc.len() / (ow * c);
                    (k.q8.dwconv3x3)(args, xi, p, r0..r1, yc);
                });
        });
}

/// `y = x − zp` as f32.
pub fn dequantize(k: &Kernels, x: &[u8], zp: i32, y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "q8 dequantize: lengths");
    let chunk = chunk(x.len(), 1);
    y.par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .for_each(|(y, x)| (k.q8.dequantize)(x, zp, y));
}

/// acc: (M, C) exact integers in f32 → y: (M, C) u8.
pub fn requantize(k: &Kernels, acc: &[f32], e: &Epilogue, y: &mut [u8]) {
    assert_eq!(acc.len(), y.len(), "q8 requantize: lengths");
    let chunk = chunk(acc.len(), e.channels);
    y.par_chunks_mut(chunk)
        .zip(acc.par_chunks(chunk))
        .for_each(|(y, a)| (k.q8.requantize)(a, e, y));
}

/// A task length: a multiple of `unit`, about two tasks per thread, at least [`MIN_CHUNK`].
fn chunk(len: usize, unit: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let per = len.div_ceil(threads * 2).max(MIN_CHUNK);
    per.div_ceil(unit).max(1) * unit
}
