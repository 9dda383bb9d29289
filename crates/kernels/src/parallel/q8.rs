//! Whole-layer entry points of the quantized kernels, split into tasks (see [`super`]): row
//! blocks of whole GEMM tiles for the pointwise layers, images × row bands for the 3×3 layers,
//! element ranges for the input quantization.

use crate::dispatch::Kernels;
use crate::geometry::{ConvArgs, DwArgs};
use crate::qdepthwise::QDepthwise;
use crate::qpacked::QPointwise;

use super::{image_row_bands, team};

/// Rows of a 6-row GEMM tile: tasks are cut at multiples of it.
const TILE_ROWS: usize = 6;

/// Depthwise layers of at most this many outputs run on the calling thread: split, their
/// 2–5 µs gained nothing on 2 threads and lost up to 2 µs to the hand-over (the halo rows read
/// twice, the input fetched from the other core's cache); Google's α 0.25/128 file,
/// 8 × 8 × 128: 5.1 µs on 1 thread, 7.5 µs split (AMD EPYC, Zen 3).
const SERIAL_DW_OUTPUTS: usize = 12 * 1024;

/// A single row of at least this many multiply-adds is split over threads by weight panels:
/// its weights are what costs (Google's 0.25/128 classifier, 256 × 1001, streams 512 KiB of i16
/// pairs).
const SPLIT_ROW_MACS: usize = 64 * 1024;

/// Elements per (de)quantization task, at least.
const MIN_CHUNK: usize = 16 * 1024;

/// x: (M, K) → y: (M, N), all panels.
pub fn pointwise(k: &Kernels, x: &[u8], p: &QPointwise, y: &mut [u8]) {
    let m = x.len().checked_div(p.k).unwrap_or(0);
    assert_eq!(y.len(), m * p.n, "q8 pointwise: y is not (M, N)");
    let threads = team::threads();
    let tiles = m.div_ceil(TILE_ROWS);
    let rows = tiles.div_ceil(threads * 2).max(1) * TILE_ROWS;
    let panels = p.panels();
    if m == 1 && threads > 1 && panels >= 2 * threads && p.k * p.n >= SPLIT_ROW_MACS {
        // One row (the classifier at batch 1): each thread streams its band of weight panels
        // into a row of its own, then the bands are gathered (the kernels write whole rows).
        let per = panels.div_ceil(threads);
        let mut rows = vec![0u8; threads * p.n];
        let parts: Vec<_> = rows
            .chunks_mut(p.n)
            .enumerate()
            .map(|(t, row)| ((t * per).min(panels)..((t + 1) * per).min(panels), row))
            .collect();
        team::run(parts, |(band, row)| (k.q8.pointwise)(x, p, band, row));
        for t in 0..threads {
            let cols = p.cols((t * per).min(panels)..((t + 1) * per).min(panels));
            y[cols.clone()].copy_from_slice(&rows[t * p.n..][cols]);
        }
        return;
    }
    if threads == 1 || m <= TILE_ROWS {
        (k.q8.pointwise)(x, p, 0..panels, y);
        return;
    }
    let parts: Vec<_> = y.chunks_mut(rows * p.n).zip(x.chunks(rows * p.k)).collect();
    team::run(parts, |(y, x)| (k.q8.pointwise)(x, p, 0..p.panels(), y));
}

/// Depthwise 3×3 over a batch: x: (N, H, W, C) u8, y: (N, OH, OW, C) u8, split into images ×
/// bands of output rows.
pub fn dwconv3x3(k: &Kernels, args: &DwArgs, n: usize, x: &[u8], p: &QDepthwise, y: &mut [u8]) {
    let g = &args.geom;
    let (oh, ow, c) = (g.out_h(), g.out_w(), args.c);
    let in_len = g.in_h * g.in_w * c;
    assert_eq!(x.len(), n * in_len, "q8 dwconv3x3: x len");
    assert_eq!(y.len(), n * oh * ow * c, "q8 dwconv3x3: y len");
    if y.len() <= SERIAL_DW_OUTPUTS {
        for (img, y) in y.chunks_mut(oh * ow * c).enumerate() {
            (k.q8.dwconv3x3)(args, &x[img * in_len..][..in_len], p, 0..oh, y);
        }
        return;
    }
    team::run(image_row_bands(y, n, oh, ow * c), |(img, rows, yc)| {
        (k.q8.dwconv3x3)(args, &x[img * in_len..][..in_len], p, rows, yc)
    });
}

/// Dense 3×3 over a batch as im2col + the uint8 GEMM: x: (N, H, W, Cin) u8, cols: scratch of
/// (N·OH·OW, K) bytes, y: (N, OH, OW, Cout) u8; `p` is the layer as a (K, Cout) 1×1, K ≥ 9·Cin
/// (rows past 9·Cin zero).
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
    // K may exceed 9·Cin with zero weight rows (see `im2col3x3`).
    let kk = p.k;
    assert!(
        kk >= 9 * args.cin && p.n == args.cout,
        "q8 conv3x3: layer shape"
    );
    assert_eq!(x.len(), n * in_len, "q8 conv3x3: x len");
    assert_eq!(cols.len(), n * oh * ow * kk, "q8 conv3x3: cols len");
    if cols.is_empty() {
        return;
    }
    let xz = u8::try_from(p.x_zero_point).expect("q8 conv3x3: input zero point in 0..=255");
    team::run(image_row_bands(cols, n, oh, ow * kk), |(img, rows, cc)| {
        crate::qim2col::im2col3x3(args, &x[img * in_len..][..in_len], xz, kk, rows, cc)
    });
    pointwise(k, cols, p, y);
}

/// `y = quantize(x)` (see `Q8Kernels::quantize`), in element ranges.
pub fn quantize(k: &Kernels, x: &[f32], scale: f32, zp: i32, y: &mut [u8]) {
    assert_eq!(x.len(), y.len(), "q8 quantize: lengths");
    let chunk = chunk(x.len(), 1);
    let parts: Vec<_> = y.chunks_mut(chunk).zip(x.chunks(chunk)).collect();
    team::run(parts, |(y, x)| (k.q8.quantize)(x, scale, zp, y));
}

/// A task length: a multiple of `unit`, about two tasks per thread, at least [`MIN_CHUNK`].
fn chunk(len: usize, unit: usize) -> usize {
    let threads = team::threads();
    let per = len.div_ceil(threads * 2).max(MIN_CHUNK);
    per.div_ceil(unit).max(1) * unit
}
