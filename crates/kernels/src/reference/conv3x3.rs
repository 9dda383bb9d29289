//! Dense 3×3 convolution, HWIO weights: the stem (Cin = 3) and the blocks of the
//! full-convolution variant (paper Table 4).
//! `y[oh, ow, co] = clamp(b[co] + Σ_{kh,kw,ci} x[oh·s + kh - pt, ow·s + kw - pl, ci] · w[kh, kw, ci, co])`.

use std::ops::Range;

use crate::geometry::{Clamp, ConvArgs};
use crate::reference::dwconv3x3::tap_source;

/// x: (H, W, Cin), w: (3, 3, Cin, Cout), b: (Cout), y: (rows.len(), OW, Cout).
pub fn forward(
    args: &ConvArgs,
    x: &[f32],
    w: &[f32],
    b: &[f32],
    clamp: Clamp,
    rows: Range<usize>,
    y: &mut [f32],
) {
    let g = &args.geom;
    let (cin, cout) = (args.cin, args.cout);
    let ow = g.out_w();
    args.check(x.len(), w.len(), b.len(), &rows, y.len());
    for (r, oy) in rows.enumerate() {
        for ox in 0..ow {
            let out = &mut y[(r * ow + ox) * cout..][..cout];
            out.copy_from_slice(b);
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
                    let px = &x[(iy as usize * g.in_w + ix as usize) * cin..][..cin];
                    for (ci, &xv) in px.iter().enumerate() {
                        let wrow = &w[((kh * 3 + kw) * cin + ci) * cout..][..cout];
                        for (o, &wv) in out.iter_mut().zip(wrow) {
                            *o += xv * wv;
                        }
                    }
                }
            }
            for o in out.iter_mut() {
                *o = clamp.apply(*o);
            }
        }
    }
}

/// Input gradient, input rows `rows` only (overwritten):
/// `dx[iy, ix, ci] = Σ_{kh,kw,co} dy[oy, ox, co] · w[kh, kw, ci, co]` over the taps that read
/// `(iy, ix)`. dy: (OH, OW, Cout), w: (3, 3, Cin, Cout), dx: (rows.len(), W, Cin).
pub fn backward_input(args: &ConvArgs, dy: &[f32], w: &[f32], rows: Range<usize>, dx: &mut [f32]) {
    let g = &args.geom;
    let (cin, cout) = (args.cin, args.cout);
    args.check_backward_input(dy.len(), w.len(), &rows, dx.len());
    let (oh, ow) = (g.out_h(), g.out_w());
    for (r, iy) in rows.enumerate() {
        for ix in 0..g.in_w {
            let out = &mut dx[(r * g.in_w + ix) * cin..][..cin];
            out.fill(0.0);
            for kh in 0..3 {
                let Some(oy) = tap_source(iy, kh, g.pad.top, g.stride, oh) else {
                    continue;
                };
                for kw in 0..3 {
                    let Some(ox) = tap_source(ix, kw, g.pad.left, g.stride, ow) else {
                        continue;
                    };
                    let d = &dy[(oy * ow + ox) * cout..][..cout];
                    for (ci, o) in out.iter_mut().enumerate() {
                        let wrow = &w[((kh * 3 + kw) * cin + ci) * cout..][..cout];
                        *o += d.iter().zip(wrow).map(|(a, b)| a * b).sum::<f32>();
                    }
                }
            }
        }
    }
}

/// Filter gradient over output rows `rows`, accumulated:
/// `dw[kh, kw, ci, co] += Σ_{oy ∈ rows, ox} x[oy·s + kh − pt, ox·s + kw − pl, ci] · dy[oy, ox, co]`.
/// x: (H, W, Cin), dy: (OH, OW, Cout), dw: (3, 3, Cin, Cout).
pub fn backward_filter(args: &ConvArgs, x: &[f32], dy: &[f32], rows: Range<usize>, dw: &mut [f32]) {
    let g = &args.geom;
    let (cin, cout) = (args.cin, args.cout);
    args.check_backward_filter(x.len(), dy.len(), &rows, dw.len());
    let ow = g.out_w();
    for oy in rows {
        for ox in 0..ow {
            let d = &dy[(oy * ow + ox) * cout..][..cout];
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
                    let px = &x[(iy as usize * g.in_w + ix as usize) * cin..][..cin];
                    for (ci, &xv) in px.iter().enumerate() {
                        let wrow = &mut dw[((kh * 3 + kw) * cin + ci) * cout..][..cout];
                        for (o, &dv) in wrow.iter_mut().zip(d) {
                            *o += xv * dv;
                        }
                    }
                }
            }
        }
    }
}
