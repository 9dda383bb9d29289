//! Dense 3×3 (HWIO) on every available ISA against `reference::conv3x3::forward`: the stem
//! shape, output channels around the lane width (tiles of 2 vectors, masked tails), the large
//! Cin of the full-convolution variant, both strides, both paddings, row sub-ranges,
//! misaligned slices and each clamp.

use std::ops::Range;

use mobilenet_kernels::reference;
use mobilenet_kernels::testing::{check_kernel, kernel_tables, Rng, Tol};
use mobilenet_kernels::{Clamp, Conv2dGeometry, ConvArgs, Kernels, Padding4};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Case {
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    stride: usize,
    pad: Padding4,
    clamp: Clamp,
    rows: Option<Range<usize>>,
    unaligned: bool,
}

impl Case {
    fn new(cin: usize, cout: usize, h: usize, w: usize, stride: usize) -> Case {
        Case {
            cin,
            cout,
            h,
            w,
            stride,
            pad: Padding4::symmetric(1),
            clamp: Clamp::NONE,
            rows: None,
            unaligned: false,
        }
    }

    fn tf_same(mut self) -> Case {
        self.pad = Padding4::tf_same(self.h, self.w, self.stride);
        self
    }

    fn args(&self) -> ConvArgs {
        ConvArgs {
            geom: Conv2dGeometry {
                in_h: self.h,
                in_w: self.w,
                stride: self.stride,
                pad: self.pad,
            },
            cin: self.cin,
            cout: self.cout,
        }
    }

    fn check(&self, k: &Kernels) {
        let args = self.args();
        let (oh, ow, co) = (args.geom.out_h(), args.geom.out_w(), self.cout);
        let mut rng = Rng::new((self.cin * 7919 + co * 131 + self.h * 17 + self.w) as u64);
        let x = rng.fill(self.h * self.w * self.cin, -2.0, 2.0);
        let w = rng.fill(9 * self.cin * co, -0.5, 0.5);
        let b = rng.fill(co, -1.0, 1.0);
        let rows = self.rows.clone().unwrap_or(0..oh);
        let mut want = vec![0.0; oh * ow * co];
        reference::conv3x3::forward(&args, &x, &w, &b, self.clamp, 0..oh, &mut want);
        let want = &want[rows.start * ow * co..rows.end * ow * co];

        check_kernel(
            &format!("conv3x3/{}/{self:?}", k.isa),
            self.unaligned,
            [&x, &w, &b],
            want,
            Tol::forward(9 * self.cin),
            [1, rows.len(), ow, co],
            |x, w, b, y| (k.conv3x3)(&args, x, w, b, self.clamp, rows.clone(), y),
        );
    }
}

fn each_isa(f: impl Fn(&Kernels, usize)) {
    for k in kernel_tables() {
        f(&k, k.isa.lanes().max(8));
    }
}

#[test]
fn conv3x3_stem_224_s2() {
    each_isa(|k, _| {
        Case::new(3, 32, 224, 224, 2).tf_same().check(k);
        Case::new(3, 32, 224, 224, 2).check(k);
    });
}

#[test]
fn conv3x3_cout_around_lanes() {
    each_isa(|k, l| {
        for cout in [1, l - 1, l, l + 1, 2 * l, 2 * l + 3, 32, 3 * l + 1] {
            for stride in [1, 2] {
                Case::new(3, cout, 15, 17, stride).check(k);
            }
        }
    });
}

#[test]
fn conv3x3_cin_sizes() {
    each_isa(|k, l| {
        for cin in [1, 2, 4, 17] {
            for stride in [1, 2] {
                Case::new(cin, l + 1, 8, 7, stride).check(k);
            }
        }
    });
}

#[test]
fn conv3x3_full_conv_large_cin() {
    each_isa(|k, _| {
        Case::new(1024, 32, 3, 3, 1).check(k);
        Case::new(256, 64, 7, 7, 2).check(k);
    });
}

#[test]
fn conv3x3_spatial_sizes() {
    each_isa(|k, l| {
        for h in [1, 2, 3, 4, 7, 8, 15] {
            for w in [1, 2, 3, 4, 7, 8, 15] {
                for stride in [1, 2] {
                    Case::new(3, l + 1, h, w, stride).check(k);
                    Case::new(2, 2 * l, h, w, stride).tf_same().check(k);
                }
            }
        }
    });
}

#[test]
fn conv3x3_asymmetric_padding() {
    each_isa(|k, l| {
        for (top, left, bottom, right) in [(0, 0, 2, 2), (1, 0, 0, 2), (0, 1, 2, 0), (0, 0, 0, 0)] {
            for stride in [1, 2] {
                let mut case = Case::new(3, 2 * l + 3, 9, 20, stride);
                case.pad = Padding4 {
                    top,
                    left,
                    bottom,
                    right,
                };
                case.check(k);
            }
        }
    });
}

#[test]
fn conv3x3_row_subranges_unaligned_clamps() {
    each_isa(|k, l| {
        for (i, clamp) in [Clamp::NONE, Clamp::RELU, Clamp::RELU6]
            .into_iter()
            .enumerate()
        {
            for stride in [1, 2] {
                let mut case = Case::new(3, 2 * l + 3, 16, 19, stride);
                case.clamp = clamp;
                case.rows = Some([1..3, 0..1, 5..8][i].clone());
                case.unaligned = i != 1;
                case.check(k);
            }
        }
    });
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        1usize..9,
        1usize..70,
        1usize..14,
        1usize..24,
        1usize..=2,
        (0usize..=1, 0usize..=1, 0usize..=2, 0usize..=2),
        0usize..3,
        any::<bool>(),
        (any::<u16>(), any::<u16>()),
    )
        .prop_filter_map(
            "padded input smaller than the kernel",
            |(cin, cout, h, w, stride, (top, left, bottom, right), clamp, unaligned, (r0, r1))| {
                if h + top + bottom < 3 || w + left + right < 3 {
                    return None;
                }
                let mut case = Case::new(cin, cout, h, w, stride);
                case.pad = Padding4 {
                    top,
                    left,
                    bottom,
                    right,
                };
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
    fn conv3x3_matches_reference(case in arb_case()) {
        for k in kernel_tables() {
            case.check(&k);
        }
    }
}
