//! Gradients of the 3×3 convolutions.
//!
//! - Every ISA's `dwconv3x3_backward_{input,filter}` against the reference on edge shapes:
//!   channels around the lane widths, odd and tiny spatial sizes, strides 1, 2 (and 3),
//!   symmetric, TF "SAME" and asymmetric padding, row sub-ranges, misaligned slices.
//!   Tolerance `1e-5 · Σ|terms|` per element (the reference run on |inputs|).
//! - Adjoint identities of the reference (and every table's) depthwise and dense gradients:
//!   `<forward(x), dy> = <x, backward_input(dy)>` and `Σ dw·w = <forward(x; w), dy>` (zero bias,
//!   no clamp), in f64.
//! - `parallel::train` wrappers against the reference, including the im2col + GEMM dense
//!   gradients and `matmul_nt`/`matmul_tn` against a naive loop, and their results
//!   bit-identical in pools of 1, 2 and 3 threads.

use std::ops::Range;

use mobilenet_kernels::parallel::train;
use mobilenet_kernels::reference;
use mobilenet_kernels::testing::{kernel_tables, offset_by_one, Rng};
use mobilenet_kernels::{Conv2dGeometry, ConvArgs, DwArgs, Kernels, Padding4};
use proptest::prelude::*;

/// Channel counts below, at and above both vector widths.
const CHANNELS: [usize; 10] = [1, 3, 7, 8, 9, 15, 16, 17, 33, 64];
/// (H, W) including 1×1 and odd sizes.
const SIZES: [(usize, usize); 6] = [(1, 1), (2, 2), (3, 3), (5, 7), (7, 7), (13, 13)];

#[derive(Clone, Copy, Debug)]
enum Pad {
    Sym1,
    TfSame,
    Explicit(Padding4),
}

fn geom(h: usize, w: usize, stride: usize, pad: Pad) -> Conv2dGeometry {
    let pad = match pad {
        Pad::Sym1 => Padding4::symmetric(1),
        Pad::TfSame => Padding4::tf_same(h, w, stride),
        Pad::Explicit(p) => p,
    };
    Conv2dGeometry {
        in_h: h,
        in_w: w,
        stride,
        pad,
    }
}

fn abs(v: &[f32]) -> Vec<f32> {
    v.iter().map(|x| x.abs()).collect()
}

/// `|got − want| ≤ rel · mag + 1e-30` elementwise, `mag` the sum of |terms| of each output.
#[track_caller]
fn assert_close_mag(what: &str, got: &[f32], want: &[f32], mag: &[f32], rel: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    assert_eq!(got.len(), mag.len(), "{what}: mag length");
    let bad: Vec<String> = (0..got.len())
        // Written so that a NaN (got or want) counts as a mismatch.
        .filter(|&i| {
            let ok = (got[i] - want[i]).abs() <= rel * mag[i] + 1e-30;
            !ok
        })
        .take(5)
        .map(|i| format!("  [{i}] got {} want {} (mag {})", got[i], want[i], mag[i]))
        .collect();
    assert!(bad.is_empty(), "{what}: mismatches:\n{}", bad.join("\n"));
}

const REL: f32 = 1e-5;

#[derive(Clone, Debug)]
struct DwCase {
    c: usize,
    h: usize,
    w: usize,
    stride: usize,
    pad: Pad,
    /// dx rows (input grad) / dy rows (filter grad); `None` = all.
    rows: Option<Range<usize>>,
    unaligned: bool,
}

impl DwCase {
    fn new(c: usize, h: usize, w: usize, stride: usize, pad: Pad) -> DwCase {
        DwCase {
            c,
            h,
            w,
            stride,
            pad,
            rows: None,
            unaligned: false,
        }
    }

    fn args(&self) -> DwArgs {
        DwArgs {
            geom: geom(self.h, self.w, self.stride, self.pad),
            c: self.c,
        }
    }

    fn check_input(&self, k: &Kernels) {
        let args = self.args();
        let g = args.geom;
        let c = self.c;
        let (oh, ow) = (g.out_h(), g.out_w());
        let mut rng = Rng::new((c * 977 + self.h * 31 + self.w * 7 + self.stride) as u64);
        let dy = rng.fill(oh * ow * c, -1.0, 1.0);
        let w = rng.fill(9 * c, -1.0, 1.0);
        let rows = self.rows.clone().unwrap_or(0..g.in_h);
        let full = |dy: &[f32], w: &[f32]| {
            let mut out = vec![0.0; g.in_h * g.in_w * c];
            reference::dwconv3x3::backward_input(&args, dy, w, 0..g.in_h, &mut out);
            out[rows.start * g.in_w * c..rows.end * g.in_w * c].to_vec()
        };
        let want = full(&dy, &w);
        let mag = full(&abs(&dy), &abs(&w));
        let n = want.len();
        let (dys, ws) = (offset_by_one(&dy), offset_by_one(&w));
        let (dyp, wp): (&[f32], &[f32]) = if self.unaligned {
            (&dys[1..], &ws[1..])
        } else {
            (&dy, &w)
        };
        // NaN-filled, so an element the kernel skips fails; one guard on each side.
        let mut out = vec![f32::NAN; n + 2];
        (k.dwconv3x3_backward_input)(&args, dyp, wp, rows.clone(), &mut out[1..n + 1]);
        let what = format!("dwconv3x3_backward_input/{}/{self:?}", k.isa);
        assert_close_mag(&what, &out[1..n + 1], &want, &mag, REL);
        assert!(
            out[0].is_nan() && out[n + 1].is_nan(),
            "{what}: wrote outside dx"
        );
    }

    fn check_filter(&self, k: &Kernels) {
        let args = self.args();
        let g = args.geom;
        let c = self.c;
        let (oh, ow) = (g.out_h(), g.out_w());
        let mut rng = Rng::new((c * 373 + self.h * 29 + self.w * 5 + self.stride) as u64);
        let x = rng.fill(g.in_h * g.in_w * c, -1.0, 1.0);
        let dy = rng.fill(oh * ow * c, -1.0, 1.0);
        // dw accumulates: start from non-zero values.
        let dw0 = rng.fill(9 * c, -1.0, 1.0);
        let rows = self.rows.clone().unwrap_or(0..oh);
        let mut want = dw0.clone();
        reference::dwconv3x3::backward_filter(&args, &x, &dy, rows.clone(), &mut want);
        let mut mag = abs(&dw0);
        reference::dwconv3x3::backward_filter(&args, &abs(&x), &abs(&dy), rows.clone(), &mut mag);
        let (xs, dys) = (offset_by_one(&x), offset_by_one(&dy));
        let (xp, dyp): (&[f32], &[f32]) = if self.unaligned {
            (&xs[1..], &dys[1..])
        } else {
            (&x, &dy)
        };
        let mut out = vec![f32::NAN; 9 * c + 2];
        out[1..9 * c + 1].copy_from_slice(&dw0);
        (k.dwconv3x3_backward_filter)(&args, xp, dyp, rows, &mut out[1..9 * c + 1]);
        let what = format!("dwconv3x3_backward_filter/{}/{self:?}", k.isa);
        assert_close_mag(&what, &out[1..9 * c + 1], &want, &mag, REL);
        assert!(
            out[0].is_nan() && out[9 * c + 1].is_nan(),
            "{what}: wrote outside dw"
        );
    }

    fn check(&self, k: &Kernels) {
        self.check_input(k);
        let mut f = self.clone();
        // Rows of the filter gradient are output rows.
        if let Some(r) = &f.rows {
            let oh = f.args().geom.out_h();
            f.rows = Some(r.start.min(oh)..r.end.min(oh));
        }
        f.check_filter(k);
    }
}

#[test]
fn dw_backward_edge_shapes() {
    for k in kernel_tables() {
        for c in CHANNELS {
            for (h, w) in SIZES {
                for stride in [1, 2] {
                    for pad in [Pad::Sym1, Pad::TfSame] {
                        DwCase::new(c, h, w, stride, pad).check(&k);
                    }
                }
            }
        }
    }
}

#[test]
fn dw_backward_asymmetric_padding_and_stride3() {
    for k in kernel_tables() {
        for (top, left, bottom, right) in [
            (0, 0, 2, 2),
            (1, 0, 0, 2),
            (0, 1, 2, 0),
            (0, 0, 0, 0),
            (2, 2, 0, 0),
            (2, 1, 1, 2),
        ] {
            let pad = Pad::Explicit(Padding4 {
                top,
                left,
                bottom,
                right,
            });
            for stride in [1, 2, 3] {
                for c in [3, 17, 33] {
                    for (h, w) in [(7, 8), (9, 11), (4, 5)] {
                        DwCase::new(c, h, w, stride, pad).check(&k);
                    }
                }
            }
        }
    }
}

#[test]
fn dw_backward_row_ranges() {
    for k in kernel_tables() {
        for stride in [1, 2] {
            for pad in [Pad::Sym1, Pad::TfSame] {
                let case = DwCase::new(17, 11, 10, stride, pad);
                for r0 in 0..=11 {
                    for r1 in r0..=11 {
                        let mut sub = case.clone();
                        sub.rows = Some(r0..r1);
                        sub.check(&k);
                    }
                }
            }
        }
    }
}

#[test]
fn dw_backward_unaligned() {
    for k in kernel_tables() {
        for c in [1, 8, 9, 16, 17, 33] {
            for stride in [1, 2] {
                let mut case = DwCase::new(c, 7, 9, stride, Pad::Sym1);
                case.unaligned = true;
                case.rows = Some(1..6);
                case.check(&k);
            }
        }
    }
}

/// Training shapes (CIFAR-10 and ImageNet layers, cut to small heights where the reference
/// would be slow), TF "SAME" and symmetric padding, wide rows that take the interior tiles.
#[test]
fn dw_backward_training_shapes() {
    for k in kernel_tables() {
        for (h, c, s) in [
            (32, 32, 1),
            (32, 64, 2),
            (16, 128, 1),
            (16, 128, 2),
            (8, 256, 1),
            (4, 512, 2),
            (2, 1024, 1),
            (14, 512, 2),
            (7, 1024, 1),
        ] {
            DwCase::new(c, h, h, s, Pad::TfSame).check(&k);
            DwCase::new(c, h, h, s, Pad::Sym1).check(&k);
        }
        DwCase::new(32, 112, 40, 1, Pad::Sym1).check(&k);
        DwCase::new(24, 41, 112, 2, Pad::TfSame).check(&k);
    }
}

fn arb_dw_case() -> impl Strategy<Value = DwCase> {
    (
        1usize..70,
        1usize..24,
        1usize..24,
        1usize..=3,
        (0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2),
        any::<bool>(),
        (any::<u16>(), any::<u16>()),
    )
        .prop_filter_map(
            "padded input smaller than the kernel",
            |(c, h, w, stride, (top, left, bottom, right), unaligned, (r0, r1))| {
                if h + top + bottom < 3 || w + left + right < 3 {
                    return None;
                }
                let pad = Pad::Explicit(Padding4 {
                    top,
                    left,
                    bottom,
                    right,
                });
                let mut case = DwCase::new(c, h, w, stride, pad);
                case.unaligned = unaligned;
                let (a, b) = (r0 as usize % (h + 1), r1 as usize % (h + 1));
                case.rows = Some(a.min(b)..a.max(b));
                Some(case)
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn dw_backward_matches_reference(case in arb_dw_case()) {
        for k in kernel_tables() {
            case.check(&k);
        }
    }
}

fn dot(a: &[f32], b: &[f32]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold((0.0, 0.0), |(s, m), (&x, &y)| {
        let p = x as f64 * y as f64;
        (s + p, m + p.abs())
    })
}

#[track_caller]
fn assert_adjoint(what: &str, lhs: (f64, f64), rhs: (f64, f64)) {
    let mag = lhs.1.max(rhs.1).max(1e-30);
    assert!(
        (lhs.0 - rhs.0).abs() <= 1e-5 * mag,
        "{what}: {} vs {} (Σ|terms| {mag})",
        lhs.0,
        rhs.0
    );
}

/// Depthwise: `<y, dy> = <x, dx>` and `<y, dy> = Σ dw·w` with `y = forward(x; w)`, no bias
/// or clamp, `dx = backward_input(dy)`, `dw = backward_filter(x, dy)`, for every table.
#[test]
fn dw_adjoint_identities() {
    let mut shapes = vec![];
    for (h, w) in SIZES {
        for stride in [1, 2, 3] {
            for pad in [Pad::Sym1, Pad::TfSame] {
                shapes.push((h, w, stride, pad));
            }
        }
    }
    shapes.push((
        6,
        9,
        2,
        Pad::Explicit(Padding4 {
            top: 0,
            left: 2,
            bottom: 2,
            right: 0,
        }),
    ));
    for k in kernel_tables() {
        for &(h, w, stride, pad) in &shapes {
            for c in [1, 9, 17] {
                let args = DwArgs {
                    geom: geom(h, w, stride, pad),
                    c,
                };
                let g = args.geom;
                let (oh, ow) = (g.out_h(), g.out_w());
                let mut rng = Rng::new((h * 100 + w * 10 + stride + c * 1000) as u64);
                let x = rng.fill(h * w * c, -1.0, 1.0);
                let wt = rng.fill(9 * c, -1.0, 1.0);
                let dy = rng.fill(oh * ow * c, -1.0, 1.0);
                let zero = vec![0.0; c];
                let mut y = vec![0.0; oh * ow * c];
                reference::dwconv3x3::forward(
                    &args,
                    &x,
                    &wt,
                    &zero,
                    mobilenet_kernels::Clamp::NONE,
                    0..oh,
                    &mut y,
                );
                let mut dx = vec![0.0; h * w * c];
                (k.dwconv3x3_backward_input)(&args, &dy, &wt, 0..h, &mut dx);
                let mut dw = vec![0.0; 9 * c];
                (k.dwconv3x3_backward_filter)(&args, &x, &dy, 0..oh, &mut dw);
                let what = format!("dw adjoint/{}/h={h},w={w},s={stride},{pad:?},c={c}", k.isa);
                assert_adjoint(&format!("{what}/input"), dot(&y, &dy), dot(&x, &dx));
                assert_adjoint(&format!("{what}/filter"), dot(&y, &dy), dot(&dw, &wt));
            }
        }
    }
}

/// Dense 3×3: the same identities for `reference::conv3x3`.
#[test]
fn conv_adjoint_identities() {
    for (h, w) in SIZES {
        for stride in [1, 2] {
            for pad in [Pad::Sym1, Pad::TfSame] {
                for (cin, cout) in [(1, 1), (3, 8), (5, 3)] {
                    let args = ConvArgs {
                        geom: geom(h, w, stride, pad),
                        cin,
                        cout,
                    };
                    let g = args.geom;
                    let (oh, ow) = (g.out_h(), g.out_w());
                    let mut rng = Rng::new((h * 100 + w * 10 + stride + cin * 7 + cout) as u64);
                    let x = rng.fill(h * w * cin, -1.0, 1.0);
                    let wt = rng.fill(9 * cin * cout, -1.0, 1.0);
                    let dy = rng.fill(oh * ow * cout, -1.0, 1.0);
                    let zero = vec![0.0; cout];
                    let mut y = vec![0.0; oh * ow * cout];
                    reference::conv3x3::forward(
                        &args,
                        &x,
                        &wt,
                        &zero,
                        mobilenet_kernels::Clamp::NONE,
                        0..oh,
                        &mut y,
                    );
                    let mut dx = vec![0.0; h * w * cin];
                    reference::conv3x3::backward_input(&args, &dy, &wt, 0..h, &mut dx);
                    let mut dw = vec![0.0; 9 * cin * cout];
                    reference::conv3x3::backward_filter(&args, &x, &dy, 0..oh, &mut dw);
                    let what = format!("conv adjoint/h={h},w={w},s={stride},{pad:?},{cin}->{cout}");
                    assert_adjoint(&format!("{what}/input"), dot(&y, &dy), dot(&x, &dx));
                    assert_adjoint(&format!("{what}/filter"), dot(&y, &dy), dot(&dw, &wt));
                }
            }
        }
    }
}

/// Runs `f` in pools of 1, 2 and 3 threads and checks the results are bit-identical.
fn same_for_any_threads<T: PartialEq + Send>(what: &str, f: impl Fn() -> T + Sync) -> T {
    let run = |t: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(t)
            .build()
            .unwrap()
            .install(&f)
    };
    let one = run(1);
    for t in [2, 3] {
        assert!(run(t) == one, "{what}: {t} threads differ from 1");
    }
    one
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn parallel_dw_backward_matches_reference_and_is_deterministic() {
    for k in kernel_tables() {
        for (h, c, s, n) in [(8, 24, 1, 5), (9, 17, 2, 6), (4, 64, 2, 9), (13, 8, 1, 3)] {
            let args = DwArgs {
                geom: geom(h, h, s, Pad::TfSame),
                c,
            };
            let g = args.geom;
            let (oh, ow) = (g.out_h(), g.out_w());
            let (il, ol) = (h * h * c, oh * ow * c);
            let mut rng = Rng::new((h + c + s + n) as u64);
            let x = rng.fill(n * il, -1.0, 1.0);
            let dy = rng.fill(n * ol, -1.0, 1.0);
            let w = rng.fill(9 * c, -1.0, 1.0);
            let what = format!("parallel dw backward/{}/h={h},c={c},s={s},n={n}", k.isa);

            let dx = same_for_any_threads(&what, || {
                let mut dx = vec![f32::NAN; n * il];
                train::dwconv3x3_backward_input(&k, &args, n, &dy, &w, &mut dx);
                bits(&dx)
            });
            let dw = same_for_any_threads(&what, || {
                let mut dw = vec![f32::NAN; 9 * c];
                let mut ws = train::Workspace::default();
                train::dwconv3x3_backward_filter(&k, &args, n, &x, &dy, &mut dw, &mut ws);
                bits(&dw)
            });
            let dx: Vec<f32> = dx.into_iter().map(f32::from_bits).collect();
            let dw: Vec<f32> = dw.into_iter().map(f32::from_bits).collect();

            let (mut want_dx, mut mag_dx) = (vec![0.0; n * il], vec![0.0; n * il]);
            let (mut want_dw, mut mag_dw) = (vec![0.0; 9 * c], vec![0.0; 9 * c]);
            let (ax, ady, aw) = (abs(&x), abs(&dy), abs(&w));
            for i in 0..n {
                let (xi, dyi) = (i * il..(i + 1) * il, i * ol..(i + 1) * ol);
                reference::dwconv3x3::backward_input(
                    &args,
                    &dy[dyi.clone()],
                    &w,
                    0..h,
                    &mut want_dx[xi.clone()],
                );
                reference::dwconv3x3::backward_input(
                    &args,
                    &ady[dyi.clone()],
                    &aw,
                    0..h,
                    &mut mag_dx[xi.clone()],
                );
                reference::dwconv3x3::backward_filter(
                    &args,
                    &x[xi.clone()],
                    &dy[dyi.clone()],
                    0..oh,
                    &mut want_dw,
                );
                reference::dwconv3x3::backward_filter(
                    &args,
                    &ax[xi],
                    &ady[dyi],
                    0..oh,
                    &mut mag_dw,
                );
            }
            assert_close_mag(&format!("{what}/dx"), &dx, &want_dx, &mag_dx, REL);
            assert_close_mag(&format!("{what}/dw"), &dw, &want_dw, &mag_dw, REL);
        }
    }
}

#[test]
fn parallel_conv3x3_backward_matches_reference_and_is_deterministic() {
    for (h, cin, cout, s, n, pad) in [
        (8, 3, 16, 2, 3, Pad::TfSame),
        (7, 5, 9, 1, 2, Pad::Sym1),
        (5, 16, 32, 2, 4, Pad::Sym1),
        // 2·4·32·32 = 8192 pixels: matmul_tn splits its reduction.
        (32, 3, 8, 1, 8, Pad::Sym1),
    ] {
        let args = ConvArgs {
            geom: geom(h, h, s, pad),
            cin,
            cout,
        };
        let g = args.geom;
        let (oh, ow) = (g.out_h(), g.out_w());
        let (il, ol) = (h * h * cin, oh * ow * cout);
        let mut rng = Rng::new((h * 3 + cin + cout + s) as u64);
        let x = rng.fill(n * il, -1.0, 1.0);
        let dy = rng.fill(n * ol, -1.0, 1.0);
        let w = rng.fill(9 * cin * cout, -1.0, 1.0);
        let what = format!("parallel conv3x3 backward/h={h},{cin}->{cout},s={s},n={n}");
        let dw = same_for_any_threads(&what, || {
            let mut dw = vec![f32::NAN; 9 * cin * cout];
            let (mut col, mut ws) = (Vec::new(), train::Workspace::default());
            train::conv3x3_backward_filter(&args, n, &x, &dy, &mut dw, &mut col, &mut ws);
            bits(&dw)
        });
        let dx = same_for_any_threads(&what, || {
            let mut dx = vec![f32::NAN; n * il];
            let mut col = Vec::new();
            train::conv3x3_backward_input(&args, n, &dy, &w, &mut dx, &mut col);
            bits(&dx)
        });
        let dx: Vec<f32> = dx.into_iter().map(f32::from_bits).collect();
        let dw: Vec<f32> = dw.into_iter().map(f32::from_bits).collect();
        let (mut want_dx, mut mag_dx) = (vec![0.0; n * il], vec![0.0; n * il]);
        let (mut want_dw, mut mag_dw) = (vec![0.0; dw.len()], vec![0.0; dw.len()]);
        let (ax, ady, aw) = (abs(&x), abs(&dy), abs(&w));
        for i in 0..n {
            let (xi, dyi) = (i * il..(i + 1) * il, i * ol..(i + 1) * ol);
            reference::conv3x3::backward_input(
                &args,
                &dy[dyi.clone()],
                &w,
                0..h,
                &mut want_dx[xi.clone()],
            );
            reference::conv3x3::backward_input(
                &args,
                &ady[dyi.clone()],
                &aw,
                0..h,
                &mut mag_dx[xi.clone()],
            );
            reference::conv3x3::backward_filter(
                &args,
                &x[xi.clone()],
                &dy[dyi.clone()],
                0..oh,
                &mut want_dw,
            );
            reference::conv3x3::backward_filter(&args, &ax[xi], &ady[dyi], 0..oh, &mut mag_dw);
        }
        assert_close_mag(&format!("{what}/dx"), &dx, &want_dx, &mag_dx, REL);
        assert_close_mag(&format!("{what}/dw"), &dw, &want_dw, &mag_dw, REL);
    }
}

/// Naive f64 `a·bᵀ` (a: (M, K), b: (N, K)) and Σ|terms|.
fn naive_nt(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let (mut c, mut mag) = (vec![0.0; m * n], vec![0.0; m * n]);
    for i in 0..m {
        for j in 0..n {
            let (mut s, mut t) = (0.0f64, 0.0f64);
            for p in 0..k {
                let v = a[i * k + p] as f64 * b[j * k + p] as f64;
                s += v;
                t += v.abs();
            }
            c[i * n + j] = s as f32;
            mag[i * n + j] = t as f32;
        }
    }
    (c, mag)
}

fn transpose(rows: usize, cols: usize, a: &[f32]) -> Vec<f32> {
    let mut t = vec![0.0; a.len()];
    for i in 0..rows {
        for j in 0..cols {
            t[j * rows + i] = a[i * cols + j];
        }
    }
    t
}

#[test]
fn parallel_matmul_nt_tn_match_naive_and_are_deterministic() {
    // (M, N, K): short and long K, the column split of matmul_nt (M < 512, M·N·K ≥ 2^22,
    // N ≥ 128), row bands (M ≥ 512), matmul_tn's split reduction (K > 4096), odd sizes.
    for (m, n, k) in [
        (1, 1, 1),
        (7, 5, 3),
        (33, 17, 300),
        (64, 200, 400),
        (600, 9, 13),
        (20, 130, 9000),
        (5, 3, 4097),
    ] {
        let mut rng = Rng::new((m * 7 + n * 3 + k) as u64);
        let a = rng.fill(m * k, -1.0, 1.0);
        let b = rng.fill(n * k, -1.0, 1.0);
        let (want, mag) = naive_nt(m, n, k, &a, &b);
        let what = format!("matmul_nt/m={m},n={n},k={k}");
        let got = same_for_any_threads(&what, || {
            let mut c = vec![f32::NAN; m * n];
            train::matmul_nt(m, n, k, &a, &b, &mut c);
            bits(&c)
        });
        let got: Vec<f32> = got.into_iter().map(f32::from_bits).collect();
        assert_close_mag(&what, &got, &want, &mag, REL);

        // c = aᵀ·b with a: (K, M), b: (K, N) is the same product.
        let (at, bt) = (transpose(m, k, &a), transpose(n, k, &b));
        let what = format!("matmul_tn/m={m},n={n},k={k}");
        let got = same_for_any_threads(&what, || {
            let mut c = vec![f32::NAN; m * n];
            let mut ws = train::Workspace::default();
            train::matmul_tn(m, n, k, &at, &bt, &mut c, &mut ws);
            bits(&c)
        });
        let got: Vec<f32> = got.into_iter().map(f32::from_bits).collect();
        assert_close_mag(&what, &got, &want, &mag, REL);
    }
}
