//! Dense 3×3 convolution, HWIO weights: the stem (Cin = 3) and the blocks of the
//! full-convolution variant (paper Table 4).
//! `y[oh, ow, co] = clamp(b[co] + Σ_{kh,kw,ci} x[oh·s + kh - pt, ow·s + kw - pl, ci] · w[kh, kw, ci, co])`.

use std::ops::Range;

use crate::geometry::{Clamp, ConvArgs};

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
