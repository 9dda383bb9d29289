//! Depthwise 3×3 convolution (MobileNet v1 §3.1, eq. 3): each channel is filtered by its own
//! 3×3 kernel. `y[oh, ow, c] = clamp(b[c] + Σ_{kh,kw} x[oh·s + kh - pt, ow·s + kw - pl, c] · w[kh, kw, c])`
//! with out-of-image taps reading zero.

use std::ops::Range;

use crate::geometry::{Clamp, DwArgs};

/// x: (H, W, C), w: (3, 3, C), b: (C), y: (rows.len(), OW, C).
pub fn forward(
    args: &DwArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
) {
    let g = &args.geom;
    let c = args.c;
    let ow = g.out_w();
    args.check(x.len(), w.len(), b.len(), &rows, y.len());
    for (r, oy) in rows.enumerate() {
        for ox in 0..ow {
            for ch in 0..c {
                let mut acc = b[ch];
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
                        let xi = (iy as usize * g.in_w + ix as usize) * c + ch;
                        acc += x[xi] * w[(kh * 3 + kw) * c + ch];
                    }
                }
                y[(r * ow + ox) * c + ch] = clamp.apply(acc);
            }
        }
    }
}

/// Input gradient, input rows `rows` only (overwritten):
/// `dx[iy, ix, c] = Σ_{kh,kw} dy[oy, ox, c] · w[kh, kw, c]` over the taps that read `(iy, ix)`,
/// i.e. `iy = oy·s + kh − pt` and `ix = ox·s + kw − pl`.
/// dy: (OH, OW, C), w: (3, 3, C), dx: (rows.len(), W, C).
pub fn backward_input(args: &DwArgs, dy: &[f32], w: &[f32], rows: Range<usize>, dx: &mut [f32]) {
    let g = &args.geom;
    let c = args.c;
    args.check_backward_input(dy.len(), w.len(), &rows, dx.len());
    let (oh, ow) = (g.out_h(), g.out_w());
    for (r, iy) in rows.enumerate() {
        for ix in 0..g.in_w {
            for ch in 0..c {
                let mut acc = 0.0;
                for kh in 0..3 {
                    let Some(oy) = tap_source(iy, kh, g.pad.top, g.stride, oh) else {
                        continue;
                    };
                    for kw in 0..3 {
                        let Some(ox) = tap_source(ix, kw, g.pad.left, g.stride, ow) else {
                            continue;
                        };
                        acc += dy[(oy * ow + ox) * c + ch] * w[(kh * 3 + kw) * c + ch];
                    }
                }
                dx[(r * g.in_w + ix) * c + ch] = acc;
            }
        }
    }
}

/// Filter gradient over output rows `rows`, accumulated:
/// `dw[kh, kw, c] += Σ_{oy ∈ rows, ox} x[oy·s + kh − pt, ox·s + kw − pl, c] · dy[oy, ox, c]`.
/// x: (H, W, C), dy: (OH, OW, C), dw: (3, 3, C).
pub fn backward_filter(args: &DwArgs, x: &[f32], dy: &[f32], rows: Range<usize>, dw: &mut [f32]) {
    let g = &args.geom;
    let c = args.c;
    args.check_backward_filter(x.len(), dy.len(), &rows, dw.len());
    let ow = g.out_w();
    for oy in rows {
        for ox in 0..ow {
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
                    for ch in 0..c {
                        dw[(kh * 3 + kw) * c + ch] += x
                            [(iy as usize * g.in_w + ix as usize) * c + ch]
                            * dy[(oy * ow + ox) * c + ch];
                    }
                }
            }
        }
    }
}

/// The output coordinate whose tap `k` reads input coordinate `i` (`i = o·s + k − pad`), if any.
pub fn tap_source(i: usize, k: usize, pad: usize, stride: usize, out: usize) -> Option<usize> {
    let t = (i + pad).checked_sub(k)?;
    if !t.is_multiple_of(stride) {
        return None;
    }
    let o = t / stride;
    (o < out).then_some(o)
}
