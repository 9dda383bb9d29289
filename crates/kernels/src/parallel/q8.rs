//! Whole-layer entry points of the quantized kernels, split over the current rayon pool:
//! row blocks of whole GEMM tiles for the pointwise layers, element ranges for the
//! (de)quantization passes.

use rayon::prelude::*;

use crate::dispatch::Kernels;
use crate::geometry::{ConvArgs, DwArgs};
use crate::qdepthwise::QDepthwise;
use crate::qpacked::QPointwise;

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

/// Dense 3×3 over a batch as im2col + the uint8 GEMM: x: (N, H, W, Cin) u8, cols: scratch of
/// (N·OH·OW, 9·Cin) bytes, y: (N, OH, OW, Cout) u8; `p` is the layer as a (9·Cin, Cout) 1×1.
pub fn conv3x3(
    k: &Kernels,
    args: &ConvArgs,
    n: usize,
    x: &[u8],
    p: &QPointwise,
    cols: &mut [u8],
    y: &mut [u8],
) {
    let g = &args.geom;
    let (oh, ow) = (g.out_h(), g.out_w());
    let in_len = g.in_h * g.in_w * args.cin;
    let kk = 9 * args.cin;
    assert!(p.k == kk && p.n == args.cout, "q8 conv3x3: layer shape");
    assert_eq!(x.len(), n * in_len, "q8 conv3x3: x len");
    assert_eq!(cols.len(), n * oh * ow * kk, "q8 conv3x3: cols len");
    if cols.is_empty() {
        return;
    }
    let xz = u8::try_from(p.x_zero_point).expect("q8 conv3x3: input zero point in 0..=255");
    let threads = rayon::current_num_threads().max(1);
    let rows = oh.div_ceil((threads * 2).div_ceil(n).max(1)).max(1);
    cols.par_chunks_mut(oh * ow * kk)
        .zip(x.par_chunks(in_len))
        .for_each(|(ci, xi)| {
            ci.par_chunks_mut(rows * ow * kk)
                .enumerate()
                .for_each(|(t, cc)| {
                    let r0 = t * rows;
                    let r1 = r0 + cc.len() / (ow * kk);
                    crate::reference::q8::im2col3x3(args, xi, xz, r0..r1, cc);
                });
        });
    pointwise(k, cols, p, y);
}

/// `y = quantize(x)` (see `Q8Kernels::quantize`), in element ranges.
pub fn quantize(k: &Kernels, x: &[f32], scale: f32, zp: i32, y: &mut [u8]) {
    assert_eq!(x.len(), y.len(), "q8 quantize: lengths");
    let chunk = chunk(x.len(), 1);
    y.par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .for_each(|(y, x)| (k.q8.quantize)(x, scale, zp, y));
}

/// A task length: a multiple of `unit`, about two tasks per thread, at least [`MIN_CHUNK`].
fn chunk(len: usize, unit: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let per = len.div_ceil(threads * 2).max(MIN_CHUNK);
    per.div_ceil(unit).max(1) * unit
}
