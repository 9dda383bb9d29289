//! Quantized (uint8 activations, int8 weights) reference kernels: TFLite's reference arithmetic
//! written out, `acc = Σ (x − xz)(w − wz) + bias` in wrapping i32 over the taps inside the image,
//! then [`OutputQuant::output`]. See [`crate::quant`] for the conventions.
//!
//! The dense 3×3 layers in the plan run as exact integer arithmetic carried in f32 lanes: the input
//! becomes `x − xz` ([`dequantize`]), the float kernels convolve it with `w − wz` (every partial
//! sum is an integer below 2^24, so every FMA is exact in any order), and [`requantize`] adds the
//! bias and requantizes. [`conv3x3`] and [`dwconv3x3`] are the direct specs that path is tested
//! against.

use std::ops::Range;

use crate::geometry::{ConvArgs, DwArgs};
use crate::qdepthwise::QDepthwise;
use crate::qpacked::QPointwise;
use crate::quant::{Epilogue, OutputQuant};

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

/// `y = x − zp` as f32 (exact).
pub fn dequantize(x: &[u8], zp: i32, y: &mut [f32]) {
    assert_eq!(x.len(), y.len(), "q8 dequantize: lengths");
    for (y, &x) in y.iter_mut().zip(x) {
        *y = (x as i32 - zp) as f32;
    }
}

/// `y[i, c] = out.output(acc[i, c] + bias[c], c)` over acc: (M, C) holding exact integers.
pub fn requantize(acc: &[f32], e: &Epilogue, y: &mut [u8]) {
    let c = e.channels;
    assert!(
        c > 0 && acc.len().is_multiple_of(c),
        "q8 requantize: acc is not (M, C)"
    );
    assert_eq!(acc.len(), y.len(), "q8 requantize: lengths");
    for (i, (&a, y)) in acc.iter().zip(y.iter_mut()).enumerate() {
        let ch = i % c;
        *y = e.out.output((a as i32).wrapping_add(e.bias[ch]), ch);
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

/// TFLite's uint8 average pool over all positions of one image: x: (HW, C) → y: (C),
/// `(Σ + HW/2) / HW` clamped to `[min, max]` (input and output share their quantization).
pub fn global_avg_pool(x: &[u8], c: usize, min: u8, max: u8, y: &mut [u8]) {
    assert!(
        c > 0 && x.len().is_multiple_of(c) && y.len() == c,
        "q8 avg pool: shapes"
    );
    let hw = (x.len() / c) as u32;
    for (ch, y) in y.iter_mut().enumerate() {
        let sum: u32 = x.iter().skip(ch).step_by(c).map(|&v| v as u32).sum();
        *y = ((sum + hw / 2) / hw.max(1)).clamp(min as u32, max as u32) as u8;
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
