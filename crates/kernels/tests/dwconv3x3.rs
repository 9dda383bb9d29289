//! Depthwise 3×3 on every available ISA against `reference::dwconv3x3::forward`.
//! Edge cases follow XNNPACK `test/f32-dwconv-minmax.cc`: channel counts around the lane width
//! L, odd and tiny spatial sizes, both strides, PyTorch and TF "SAME" padding, output-row
//! sub-ranges, misaligned slices and each clamp.

use std::ops::Range;

use mobilenet_kernels::reference;
use mobilenet_kernels::testing::{check_kernel, kernel_tables, Rng, Tol};
use mobilenet_kernels::{Clamp, Conv2dGeometry, DwArgs, Kernels, Padding4};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Pad {
    Sym1,
    TfSame,
    Explicit(Padding4),
}

#[derive(Clone, Debug)]
struct Case {
    c: usize,
    h: usize,
    w: usize,
    stride: usize,
    pad: Pad,
    clamp: Clamp,
    /// Output rows to compute; `None` = all.
    rows: Option<Range<usize>>,
    /// Offset x and y by one element.
    unaligned: bool,
}

impl Case {
    fn new(c: usize, h: usize, w: usize, stride: usize) -> Case {
        Case {
            c,
            h,
            w,
            stride,
            pad: Pad::Sym1,
            clamp: Clamp::NONE,
            rows: None,
            unaligned: false,
        }
    }

    fn args(&self) -> DwArgs {
        let pad = match self.pad {
            Pad::Sym1 => Padding4::symmetric(1),
            Pad::TfSame => Padding4::tf_same(self.h, self.w, self.stride),
            Pad::Explicit(p) => p,
        };
        DwArgs {
            geom: Conv2dGeometry {
                in_h: self.h,
                in_w: self.w,
                stride: self.stride,
                pad,
            },
            c: self.c,
        }
    }

    fn check(&self, k: &Kernels) {
        let args = self.args();
        let (oh, ow, c) = (args.geom.out_h(), args.geom.out_w(), self.c);
        let mut rng = Rng::new((c * 131 + self.h * 17 + self.w) as u64);
        // Wide enough that ReLU6 clamps on both sides.
        let x = rng.fill(self.h * self.w * c, -4.0, 4.0);
        let w = rng.fill(9 * c, -1.0, 1.0);
        let b = rng.fill(c, -1.0, 1.0);
        let rows = self.rows.clone().unwrap_or(0..oh);
        let mut want = vec![0.0; oh * ow * c];
        reference::dwconv3x3::forward(&args, &x, &w, &b, self.clamp, 0..oh, &mut want);
        let want = &want[rows.start * ow * c..rows.end * ow * c];

        check_kernel(
            &format!("dwconv3x3/{}/{self:?}", k.isa),
            self.unaligned,
            [&x, &w, &b],
            want,
            Tol::forward(9),
            [1, rows.len(), ow, c],
            |x, w, b, y| (k.dwconv3x3)(&args, x, w, b, self.clamp, rows.clone(), y),
        );
    }
}

/// Runs `f(k, L)` for every available kernel table, L = its lanes (8 for reference, so the
/// channel cases still straddle a vector boundary).
fn each_isa(f: impl Fn(&Kernels, usize)) {
    for k in kernel_tables() {
        f(&k, k.isa.lanes().max(8));
    }
}

#[test]
fn dwconv3x3_c_around_lanes() {
    each_isa(|k, l| {
        for c in [1, l - 1, l, l + 1, 2 * l + 3, 32] {
            for stride in [1, 2] {
                Case::new(c, 7, 8, stride).check(k);
                Case::new(c, 15, 4, stride).check(k);
            }
        }
    });
}

#[test]
fn dwconv3x3_c1024() {
    each_isa(|k, _| {
        Case::new(1024, 7, 7, 1).check(k);
        Case::new(1024, 8, 3, 2).check(k);
    });
}

#[test]
fn dwconv3x3_spatial_sizes() {
    each_isa(|k, l| {
        for (i, h) in [1, 2, 3, 4, 7, 8, 15].into_iter().enumerate() {
            for w in [1, 2, 3, 4, 7, 8, 15] {
                let c = [l + 1, 3, l][i % 3];
                Case::new(c, h, w, 1).check(k);
                Case::new(c, h, w, 2).check(k);
            }
        }
    });
}

#[test]
fn dwconv3x3_s1_112x112() {
    each_isa(|k, _| Case::new(32, 112, 112, 1).check(k));
}

#[test]
fn dwconv3x3_s2_112x112_tf_same() {
    each_isa(|k, l| {
        let mut case = Case::new(l + 1, 112, 112, 2);
        case.pad = Pad::TfSame;
        case.check(k);
    });
}

#[test]
fn dwconv3x3_tf_same() {
    each_isa(|k, l| {
        for (h, w) in [(1, 1), (2, 2), (4, 7), (8, 8), (15, 14)] {
            for stride in [1, 2] {
                for c in [l - 1, 2 * l + 3] {
                    let mut case = Case::new(c, h, w, stride);
                    case.pad = Pad::TfSame;
                    case.check(k);
                }
            }
        }
    });
}

#[test]
fn dwconv3x3_asymmetric_padding() {
    each_isa(|k, l| {
        for (top, left, bottom, right) in [
            (0, 0, 2, 2),
            (1, 0, 0, 2),
            (0, 1, 2, 0),
            (0, 0, 0, 0),
            (2, 2, 0, 0),
        ] {
            for stride in [1, 2] {
                let mut case = Case::new(l + 1, 7, 8, stride);
                case.pad = Pad::Explicit(Padding4 {
                    top,
                    left,
                    bottom,
                    right,
                });
                case.check(k);
            }
        }
    });
}

#[test]
fn dwconv3x3_row_subranges() {
    each_isa(|k, l| {
        for stride in [1, 2] {
            for rows in [1..3, 0..1, 3..4, 2..7] {
                let mut case = Case::new(2 * l + 3, 15, 7, stride);
                case.rows = Some(rows.start..rows.end.min(if stride == 1 { 15 } else { 8 }));
                case.check(k);
            }
            let mut empty = Case::new(l, 4, 4, stride);
            empty.rows = Some(1..1);
            empty.check(k);
        }
    });
}

#[test]
fn dwconv3x3_unaligned() {
    each_isa(|k, l| {
        for c in [1, l, l + 1, 32] {
            for stride in [1, 2] {
                let mut case = Case::new(c, 7, 7, stride);
                case.unaligned = true;
                case.check(k);
            }
        }
    });
}

#[test]
fn dwconv3x3_clamps() {
    each_isa(|k, l| {
        for clamp in [Clamp::NONE, Clamp::RELU, Clamp::RELU6] {
            for stride in [1, 2] {
                let mut case = Case::new(2 * l + 3, 8, 7, stride);
                case.clamp = clamp;
                case.check(k);
            }
        }
    });
}

/// The tiled kernels cover R rows × T columns per tile with R, T up to 4: widths 1…9 hit
/// every column remainder, odd heights and row sub-ranges every row remainder, at channel
/// counts with and without a masked tail, with borders on all sides.
#[test]
fn dwconv3x3_tile_remainders() {
    each_isa(|k, l| {
        for c in [l - 1, 2 * l + 3, 4 * l] {
            for w in 1..=9 {
                for h in [1, 2, 3, 5] {
                    for stride in [1, 2] {
                        Case::new(c, h, w, stride).check(k);
                        let mut tf = Case::new(c, h, w, stride);
                        tf.pad = Pad::TfSame;
                        tf.check(k);
                    }
                }
            }
        }
    });
}

#[test]
fn dwconv3x3_tile_row_ranges() {
    each_isa(|k, l| {
        for stride in [1, 2] {
            let case = Case::new(2 * l + 3, 11, 10, stride);
            let oh = case.args().geom.out_h();
            for r0 in 0..oh {
                for r1 in r0 + 1..=oh {
                    let mut sub = case.clone();
                    sub.rows = Some(r0..r1);
                    sub.check(k);
                }
            }
        }
    });
}

#[test]
fn dwconv3x3_mobilenet_shapes_small() {
    // The 14×14×512 and 7×7×1024 layers (TF SAME), and wide C at an odd width.
    each_isa(|k, _| {
        for (h, c, s) in [
            (14, 512, 1),
            (14, 512, 2),
            (7, 1024, 1),
            (9, 520, 1),
            (9, 520, 2),
        ] {
            let mut case = Case::new(c, h, h, s);
            case.pad = Pad::TfSame;
            case.clamp = Clamp::RELU6;
            case.check(k);
        }
    });
}

/// Strides above 2 take the one-pixel-tile path.
#[test]
fn dwconv3x3_stride3() {
    each_isa(|k, l| {
        for (h, w) in [(7, 8), (9, 9), (4, 5)] {
            Case::new(l + 1, h, w, 3).check(k);
        }
    });
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        1usize..70,
        1usize..20,
        1usize..20,
        1usize..=2,
        (0usize..=1, 0usize..=1, 0usize..=2, 0usize..=2),
        0usize..3,
        any::<bool>(),
        (any::<u16>(), any::<u16>()),
    )
        .prop_filter_map(
            "padded input smaller than the kernel",
            |(c, h, w, stride, (top, left, bottom, right), clamp, unaligned, (r0, r1))| {
                if h + top + bottom < 3 || w + left + right < 3 {
                    return None;
                }
                let mut case = Case::new(c, h, w, stride);
                case.pad = Pad::Explicit(Padding4 {
                    top,
                    left,
                    bottom,
                    right,
                });
                case.clamp = [Clamp::NONE, Clamp::RELU, Clamp::RELU6][clamp];
                case.unaligned = unaligned;
                let oh = case.args().geom.out_h();
                let (a, b) = (r0 as usize % (oh + 1), r1 as usize % (oh + 1));
                case.rows = Some(a.min(b)..a.max(b));
                Some(case)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn dwconv3x3_matches_reference(case in arb_case()) {
        for k in kernel_tables() {
            case.check(&k);
        }
    }
}
