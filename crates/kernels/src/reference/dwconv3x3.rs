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
