//! The input patches of the int8 dense 3×3 layer (the RGB stem) as GEMM rows: the fast twin of
//! [`crate::reference::q8::im2col3x3`], with the same contract and the same bytes out.
//!
//! The reference copies each kernel row's run of `3·Cin` bytes exactly and checks every tap
//! of every pixel; on the stem (Cin = 3, 27 of K = 28 bytes per row) that was 32 µs of a
//! 113 µs layer on Google's α 0.25/128 file (AMD EPYC, Zen 3). Here an interior pixel whose
//! runs are at most 16 bytes copies each run as one 16-byte block: the block's tail spills
//! into the next run or the next patch, which are written later in address order and so
//! overwrite it. Pixels whose blocks would read past the image or write past `cols`, border
//! pixels, and wider inputs take the exact copies.

use std::ops::Range;

use crate::geometry::ConvArgs;

/// Bytes moved per block copy.
const BLOCK: usize = 16;

/// `cols` (rows.len()·OW, K) from x (H, W, Cin) for output rows `rows`: each row the 9·Cin
/// taps in `(kh, kw, ci)` order, then `K − 9·Cin` bytes of `xz`; taps outside the image hold
/// `xz` too (see [`crate::reference::q8::im2col3x3`]).
pub fn im2col3x3(args: &ConvArgs, x: &[u8], xz: u8, k: usize, rows: Range<usize>, cols: &mut [u8]) {
    crate::reference::q8::check_im2col3x3(args, x.len(), k, &rows, cols.len());
    let g = &args.geom;
    let cin = args.cin;
    let ow = g.out_w();
    let run = 3 * cin;
    if run > BLOCK {
        crate::reference::q8::im2col3x3(args, x, xz, k, rows, cols);
        return;
    }
    let interior = g.interior_cols();
    let row_step = g.in_w * cin;
    let step = g.stride * cin;
    let fill = [xz; BLOCK];
    for (r, oy) in rows.clone().enumerate() {
        let iy0 = (oy * g.stride) as isize - g.pad.top as isize;
        let row_at = r * ow * k;
        // The interior columns whose blocks stay inside `x` and `cols`: each writes up to 16
        // bytes past its taps (the extra bytes' block last) and reads 16 bytes from each run's
        // start.
        let fast = if iy0 >= 0 && iy0 as usize + 2 < g.in_h {
            let src = |ox: usize| iy0 as usize * row_step + (ox * g.stride - g.pad.left) * cin;
            let fits = |ox: usize| {
                row_at + ox * k + 9 * cin + BLOCK <= cols.len()
                    && src(ox) + 2 * row_step + BLOCK <= x.len()
            };
            let mut hi = interior.end;
            while hi > interior.start && !fits(hi - 1) {
                hi -= 1;
            }
            interior.start..hi
        } else {
            0..0
        };
        // Left border, the fast columns, then the right border: in address order, so that a
        // block's spill into the next patch is overwritten.
        for ox in 0..fast.start {
            let at = row_at + ox * k;
            exact_patch(args, x, xz, oy, ox, &mut cols[at..at + k]);
        }
        let s0 = if fast.is_empty() {
            0
        } else {
            iy0 as usize * row_step + (fast.start * g.stride - g.pad.left) * cin
        };
        // SAFETY: `fits` holds for the last column of `fast`, and both offsets grow with the
        // column, so every block read lies in `x` and every block write in `cols`.
        unsafe {
            let mut src = x.as_ptr().add(s0);
            let mut dst = cols.as_mut_ptr().add(row_at + fast.start * k);
            for _ in fast.clone() {
                for kh in 0..3 {
                    let b = src
                        .add(kh * row_step)
                        .cast::<[u8; BLOCK]>()
                        .read_unaligned();
                    dst.add(kh * run).cast::<[u8; BLOCK]>().write_unaligned(b);
                }
                dst.add(9 * cin).cast::<[u8; BLOCK]>().write_unaligned(fill);
                src = src.add(step);
                dst = dst.add(k);
            }
        }
        for ox in fast.end.max(fast.start)..ow {
            let at = row_at + ox * k;
            exact_patch(args, x, xz, oy, ox, &mut cols[at..at + k]);
        }
    }
}

/// One pixel's patch, tap by tap.
fn exact_patch(args: &ConvArgs, x: &[u8], xz: u8, oy: usize, ox: usize, patch: &mut [u8]) {
    let g = &args.geom;
    let cin = args.cin;
    let (taps, extra) = patch.split_at_mut(9 * cin);
    extra.fill(xz);
    for kh in 0..3 {
        let iy = (oy * g.stride + kh)
            .checked_sub(g.pad.top)
            .filter(|&iy| iy < g.in_h);
        for kw in 0..3 {
            let ix = (ox * g.stride + kw)
                .checked_sub(g.pad.left)
                .filter(|&ix| ix < g.in_w);
            let dst = &mut taps[(kh * 3 + kw) * cin..][..cin];
            match (iy, ix) {
                (Some(iy), Some(ix)) => dst.copy_from_slice(&x[(iy * g.in_w + ix) * cin..][..cin]),
                _ => dst.fill(xz),
            }
        }
    }
}
