//! Quantized (uint8 activations, int8 weights) reference kernels: TFLite's reference arithmetic
//! written out, `acc = Σ (x − xz)(w − wz) + bias` in wrapping i32 over the taps inside the image,
//! then [`OutputQuant::output`]. See [`crate::quant`] for the conventions.
//!
//! The depthwise layers run on [`dwconv3x3_rows`] (the table entry); the dense 3×3 layers as
//! [`im2col3x3`] followed by the 1×1 GEMM. [`conv3x3`] and [`dwconv3x3`] are the direct
//! whole-image specs both are tested against.

use std::ops::Range;

use crate::geometry::{ConvArgs, DwArgs};
use crate::qdepthwise::QDepthwise;
use crate::qpacked::QPointwise;
use crate::quant::OutputQuant;

/// Pointwise / fully connected: x: (M, K), y: (M, N) row-major; writes the columns of weight
/// panels `panels` only. M is `x.len() / K`.
pub fn pointwise(x: &[u8], p: &QPointwise, panels: Range<usize>, y: &mut [u8]) {
    let (k, n) = (p.k, p.n);
    assert_eq!(x.len() % k.max(1), 0, "q8 pointwise: x is not (M, K)");
    let m = x.len().checked_div(k).unwrap_or(0);
    assert_eq!(y.len(), m * n, "q8 pointwise: y is not (M, N)");
    for i in 0..m {
        for j in p.cols(panels.clone()) {
            let mut acc = p.bias[j];
            for kk in 0..k {
                let xv = x[i * k + kk] as i32 - p.x_zero_point;
                let wv = p.w[kk * n + j] as i32 - p.w_zero_point[j];
                acc = acc.wrapping_add(xv.wrapping_mul(wv));
            }
            y[i * n + j] = p.out.output(acc, j);
        }
    }
}

/// `y = clamp(zp + round(x / scale), 0, 255)`, halves away from zero, NaN to `zp`.
///
/// The quotient is rounded as `trunc(t ± 0.5)` in f64, where the sum is exact for every f32
/// `t` (in f32 it is not: `0.49999997 + 0.5` rounds up to 1).
pub fn quantize(x: &[f32], scale: f32, zp: i32, y: &mut [u8]) {
    assert_eq!(x.len(), y.len(), "q8 quantize: lengths");
    for (y, &v) in y.iter_mut().zip(x) {
        let t = (v / scale) as f64;
        *y = ((t + 0.5f64.copysign(t)) as i32)
            .saturating_add(zp)
            .clamp(0, 255) as u8;
    }
}

/// Depthwise 3×3 spec on one image: x: (H, W, C) u8, w: (3, 3, C) i8, y: (OH, OW, C).
#[allow(clippy::too_many_arguments)]
pub fn dwconv3x3(
    args: &DwArgs,
    x: &[u8],
    xz: i32,
    w: &[i8],
    wz: &[i32],
    bias: &[i32],
    out: &OutputQuant,
    y: &mut [u8],
) {
    let p = QDepthwise::new(args.c, w.to_vec(), wz, bias.to_vec(), xz, out.clone());
    dwconv3x3_rows(args, x, &p, 0..args.geom.out_h(), y);
}

/// The `Q8Kernels::dwconv3x3` entry: output rows `rows` of one image, x: (H, W, C),
/// y: (rows.len(), OW, C), from the layer's raw weights, zero points and bias (not the folded
/// forms the optimized kernels read).
pub fn dwconv3x3_rows(args: &DwArgs, x: &[u8], p: &QDepthwise, rows: Range<usize>, y: &mut [u8]) {
    let g = &args.geom;
    let c = args.c;
    assert_eq!(p.c, c, "q8 dwconv3x3: layer channels");
    args.check(x.len(), p.w.len(), p.bias.len(), &rows, y.len());
    let ow = g.out_w();
    for (r, oy) in rows.enumerate() {
        for ox in 0..ow {
            for ch in 0..c {
                let mut acc = p.bias[ch];
                for (kh, kw, xi) in taps(g, oy, ox) {
                    let xv = x[xi * c + ch] as i32 - p.x_zero_point;
                    let wv = p.w[(kh * 3 + kw) * c + ch] as i32 - p.w_zero_point[ch];
                    acc = acc.wrapping_add(xv * wv);
                }
                y[(r * ow + ox) * c + ch] = p.out.output(acc, ch);
            }
        }
    }
}

/// Dense 3×3 spec on one image: x: (H, W, Cin) u8, w: (3, 3, Cin, Cout) i8, y: (OH, OW, Cout).
#[allow(clippy::too_many_arguments)]
pub fn conv3x3(
    args: &ConvArgs,
    x: &[u8],
    xz: i32,
    w: &[i8],
    wz: &[i32],
    bias: &[i32],
    out: &OutputQuant,
    y: &mut [u8],
) {
    let g = &args.geom;
    let (cin, cout) = (args.cin, args.cout);
    let (oh, ow) = (g.out_h(), g.out_w());
    assert_eq!(x.len(), g.in_h * g.in_w * cin, "q8 conv3x3: x");
    assert_eq!(w.len(), 9 * cin * cout, "q8 conv3x3: w");
    assert_eq!(y.len(), oh * ow * cout, "q8 conv3x3: y");
    for oy in 0..oh {
        for ox in 0..ow {
            for co in 0..cout {
                let mut acc = bias[co];
                for (kh, kw, xi) in taps(g, oy, ox) {
                    for ci in 0..cin {
                        let xv = x[xi * cin + ci] as i32 - xz;
                        let wv = w[((kh * 3 + kw) * cin + ci) * cout + co] as i32 - zp(wz, co);
                        acc = acc.wrapping_add(xv * wv);
                    }
                }
                y[(oy * ow + ox) * cout + co] = out.output(acc, co);
            }
        }
    }
}

/// The input patches of a dense 3×3 layer as GEMM rows, for output rows `rows` of one image:
/// x: (H, W, Cin) u8 → cols: (rows.len()·OW, K), each row the 9·Cin taps in `(kh, kw, ci)`
/// order (the weights' `(3, 3, Cin, Cout)` order read as (K, N)), then `K − 9·Cin` more
/// bytes. A tap outside the image and every extra byte hold the input zero point `xz`, which
/// adds nothing to `Σ (x − xz)(w − wz)`; a quantized 1×1 GEMM over the rows (with zero weight
/// rows for the extra bytes) is then the convolution. The extra bytes let K be a multiple of
/// 4 (the RGB stem's 27 becomes 28), which the byte-pair GEMM needs.
pub fn im2col3x3(args: &ConvArgs, x: &[u8], xz: u8, k: usize, rows: Range<usize>, cols: &mut [u8]) {
    check_im2col3x3(args, x.len(), k, &rows, cols.len());
    let g = &args.geom;
    let cin = args.cin;
    let ow = g.out_w();
    // Output columns whose three taps all lie inside the image's width: their kernel rows are
    // runs of 3·Cin contiguous input bytes.
    let interior = g.interior_cols();
    let run = 3 * cin;
    for (r, oy) in rows.enumerate() {
        for ox in 0..ow {
            let (patch, extra) = cols[(r * ow + ox) * k..][..k].split_at_mut(9 * cin);
            // Byte by byte: the stem has one extra byte or none, and a `fill` would be a
            // `memset` call per patch.
            for e in extra {
                *e = xz;
            }
            for kh in 0..3 {
                let iy = (oy * g.stride + kh)
                    .checked_sub(g.pad.top)
                    .filter(|&iy| iy < g.in_h);
                let dst = &mut patch[kh * run..][..run];
                match iy {
                    Some(iy) if interior.contains(&ox) => {
                        let src = &x[(iy * g.in_w + ox * g.stride - g.pad.left) * cin..][..run];
                        copy_run(dst, src);
                    }
                    _ => {
                        for kw in 0..3 {
                            let ix = (ox * g.stride + kw).checked_sub(g.pad.left);
                            let dst = &mut dst[kw * cin..][..cin];
                            match (iy, ix) {
                                (Some(iy), Some(ix)) if ix < g.in_w => {
                                    dst.copy_from_slice(&x[(iy * g.in_w + ix) * cin..][..cin]);
                                }
                                _ => dst.fill(xz),
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `dst = src`, as fixed-size moves for the stem's 9-byte runs (RGB) instead of a `memcpy`
/// call per run.
#[inline(always)]
/// The preconditions of every `im2col3x3` (this one and [`crate::qim2col::im2col3x3`]), from
/// the slice lengths.
pub(crate) fn check_im2col3x3(
    args: &ConvArgs,
    x_len: usize,
    k: usize,
    rows: &Range<usize>,
    cols_len: usize,
) {
    let g = &args.geom;
    let cin = args.cin;
    g.validate();
    assert!(
        k >= 9 * cin,
        "q8 im2col3x3: rows of {k} bytes for 9·{cin} taps"
    );
    assert_eq!(x_len, g.in_h * g.in_w * cin, "q8 im2col3x3: x");
    assert!(rows.end <= g.out_h(), "q8 im2col3x3: rows");
    assert_eq!(cols_len, rows.len() * g.out_w() * k, "q8 im2col3x3: cols");
}

fn copy_run(dst: &mut [u8], src: &[u8]) {
    match (
        <&mut [u8; 9]>::try_from(&mut *dst),
        <&[u8; 9]>::try_from(src),
    ) {
        (Ok(d), Ok(s)) => *d = *s,
        _ => dst.copy_from_slice(src),
    }
}

/// TFLite's uint8 average pool over all positions of one image: x: (HW, C) → y: (C),
/// `(Σ + HW/2) / HW` clamped to `[min, max]` (input and output share their quantization).
pub fn global_avg_pool(x: &[u8], c: usize, min: u8, max: u8, y: &mut [u8]) {
    assert!(
        c > 0 && x.len().is_multiple_of(c) && y.len() == c,
        "q8 avg pool: shapes"
    );
    let hw = (x.len() / c) as u32;
    // Blocks of channels, each summed pixel by pixel into sums on the stack (a sequential
    // walk the compiler vectorizes; a channel-by-channel walk strides by C and took 47 µs on
    // 7 × 7 × 1024).
    const BLOCK: usize = 256;
    let mut sums = [0u32; BLOCK];
    for c0 in (0..c).step_by(BLOCK) {
        let sums = &mut sums[..BLOCK.min(c - c0)];
        sums.fill(0);
        for px in x.chunks_exact(c) {
            for (s, &v) in sums.iter_mut().zip(&px[c0..]) {
                *s += v as u32;
            }
        }
        for (y, &sum) in y[c0..].iter_mut().zip(sums.iter()) {
            *y = ((sum + hw / 2) / hw.max(1)).clamp(min as u32, max as u32) as u8;
        }
    }
}

fn zp(wz: &[i32], ch: usize) -> i32 {
    if wz.len() == 1 {
        wz[0]
    } else {
        wz[ch]
    }
}

/// The in-image taps of output `(oy, ox)`: `(kh, kw, input pixel index)`.
fn taps(
    g: &crate::geometry::Conv2dGeometry,
    oy: usize,
    ox: usize,
) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    (0..3).flat_map(move |kh| {
        (0..3).filter_map(move |kw| {
            let iy = (oy * g.stride + kh).checked_sub(g.pad.top)?;
            let ix = (ox * g.stride + kw).checked_sub(g.pad.left)?;
            (iy < g.in_h && ix < g.in_w).then_some((kh, kw, iy * g.in_w + ix))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums per channel over every pixel, rounds halves up, clamps; channels stay apart.
    #[test]
    fn global_avg_pool_rounds_and_clamps_per_channel() {
        // 3 pixels × 2 channels: channel 0 sums 1 + 2 + 2 = 5 (5/3 = 1.67 → 2), channel 1
        // sums 255·3 (clamped to 200).
        let x = [1u8, 255, 2, 255, 2, 255];
        let mut y = [0u8; 2];
        global_avg_pool(&x, 2, 0, 200, &mut y);
        assert_eq!(y, [2, 200]);
        // 2 pixels: 1 + 2 = 3, (3 + 1) / 2 = 2 (a half rounds up); 0 + 1 = 1 → 1; min 1.
        let mut y = [0u8; 2];
        global_avg_pool(&[1, 0, 2, 1], 2, 1, 255, &mut y);
        assert_eq!(y, [2, 1]);
    }
}
