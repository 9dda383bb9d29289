//! Test helpers shared by every crate's tests (feature `testing`): the one tolerance rule,
//! seeded random fills, and the list of kernel tables every kernel test runs over.

use crate::dispatch::{Isa, Kernels};

/// `|got - want| <= abs + rel·|want|`.
#[derive(Debug, Clone, Copy)]
pub struct Tol {
    pub abs: f32,
    pub rel: f32,
}

impl Tol {
    /// Forward-kernel default for a reduction of length `k`.
    pub fn forward(k: usize) -> Tol {
        Tol {
            abs: 1e-6 * k as f32,
            rel: 1e-5,
        }
    }
}

/// Panics with the first few mismatches (index and values) if `got` and `want` differ beyond `tol`.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: Tol) {
    check_close(what, got, want, tol, &|i| format!("[{i}]"));
}

/// [`assert_close`] for an NHWC tensor of `shape = [n, h, w, c]`: mismatches are reported as
/// `(n, h, w, c)` coordinates.
#[track_caller]
pub fn assert_close_nhwc(what: &str, got: &[f32], want: &[f32], tol: Tol, shape: [usize; 4]) {
    assert_eq!(
        got.len(),
        shape.iter().product::<usize>(),
        "{what}: length vs shape {shape:?}"
    );
    let [_, h, w, c] = shape;
    check_close(what, got, want, tol, &|i| {
        format!(
            "(n={}, h={}, w={}, c={})",
            i / (h * w * c),
            i / (w * c) % h,
            i / c % w,
            i % c
        )
    });
}

/// The one tolerance rule: reports the first 5 mismatches, stops scanning after 10.
#[track_caller]
fn check_close(what: &str, got: &[f32], want: &[f32], tol: Tol, at: &dyn Fn(usize) -> String) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut bad = Vec::new();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= tol.abs + tol.rel * w.abs() || (g.is_nan() && w.is_nan());
        if !ok {
            bad.push(i);
            if bad.len() >= 10 {
                break;
            }
        }
    }
    if !bad.is_empty() {
        let lines: Vec<String> = bad
            .iter()
            .take(5)
            .map(|&i| format!("  {} got {} want {}", at(i), got[i], want[i]))
            .collect();
        panic!(
            "{what}: {}{} mismatches (tol {tol:?}):\n{}",
            bad.len(),
            if bad.len() >= 10 { "+" } else { "" },
            lines.join("\n")
        );
    }
}

/// The kernel table of every ISA this CPU runs, weakest first (an ISA's table without the
/// CPU's optional extensions, [`Kernels::for_isa_baseline`], before the full one), for tests that compare each
/// against the reference. Prints `skipping <isa>: not detected` for the others, and panics if
/// the environment variable `MOBILENET_REQUIRE_ISA` (comma-separated ISA names, as CI sets it)
/// names one that is not available, so a CI machine cannot silently skip the code under test.
/// A `MOBILENET_ISA` that names no supported ISA panics too.
pub fn kernel_tables() -> Vec<Kernels> {
    if let Err(e) = crate::dispatch::env_isa() {
        panic!("MOBILENET_ISA: {e}");
    }
    let required: Vec<String> = std::env::var("MOBILENET_REQUIRE_ISA")
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for name in &required {
        let isa = Isa::from_name(name)
            .unwrap_or_else(|| panic!("MOBILENET_REQUIRE_ISA: unknown ISA {name:?}"));
        assert!(
            isa.is_supported(),
            "MOBILENET_REQUIRE_ISA={name} but this CPU does not run {isa}"
        );
    }
    Isa::ALL
        .into_iter()
        .flat_map(|isa| {
            let k = Kernels::for_isa(isa);
            if k.is_none() {
                println!("skipping {isa}: not detected");
            }
            // The same ISA without the CPU's optional extensions (e.g. AVX2 without AVX-VNNI),
            // so that both versions of its kernels are tested here.
            Kernels::for_isa_baseline(isa).into_iter().chain(k)
        })
        .collect()
}

/// `v` behind one extra leading NaN: `&out[1..]` is `v` starting one element past the
/// allocation (misaligned), as XNNPACK's `input_offset` tests do.
pub fn offset_by_one(v: &[f32]) -> Vec<f32> {
    let mut out = Vec::with_capacity(v.len() + 1);
    out.push(f32::NAN);
    out.extend_from_slice(v);
    out
}

/// A small, fast, seeded generator (xorshift64*), so fixtures do not depend on a crate's stream.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }

    pub fn fill(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// The MobileNet v1 α = 1, 224×224, batch-1 layer shapes (paper Table 1) that benches and
/// examples time. This crate knows no model, so they are written out here; the `mobilenet`
/// crate's tests check them against its `config.layers()` expansion.
pub mod mobilenet_v1 {
    /// (input size, channels, stride) of the 13 depthwise layers.
    #[rustfmt::skip]
    pub const DEPTHWISE: [(usize, usize, usize); 13] = [
        (112, 32, 1), (112, 64, 2), (56, 128, 1), (56, 128, 2), (28, 256, 1), (28, 256, 2),
        (14, 512, 1), (14, 512, 1), (14, 512, 1), (14, 512, 1), (14, 512, 1), (14, 512, 2),
        (7, 1024, 1),
    ];

    /// (M, K, N) of the 13 pointwise GEMMs.
    #[rustfmt::skip]
    pub const POINTWISE: [(usize, usize, usize); 13] = [
        (12544, 32, 64), (3136, 64, 128), (3136, 128, 128), (784, 128, 256), (784, 256, 256),
        (196, 256, 512), (196, 512, 512), (196, 512, 512), (196, 512, 512), (196, 512, 512),
        (196, 512, 512), (49, 512, 1024), (49, 1024, 1024),
    ];

    /// (M, K, N) of the classifier (1001 classes, as in Google's models).
    pub const FC: (usize, usize, usize) = (1, 1024, 1001);

    /// The stem: a dense 3×3 convolution 224×224×3 → 112×112×32, stride 2, TF "SAME" padding.
    pub fn stem() -> crate::ConvArgs {
        crate::ConvArgs {
            geom: crate::Conv2dGeometry {
                in_h: 224,
                in_w: 224,
                stride: 2,
                pad: crate::Padding4::tf_same(224, 224, 2),
            },
            cin: 3,
            cout: 32,
        }
    }

    /// `rows` without repeats, in first-seen order (the distinct shapes, for benches).
    pub fn distinct<T: PartialEq + Copy>(rows: &[T]) -> Vec<T> {
        let mut out = Vec::new();
        for r in rows {
            if !out.contains(r) {
                out.push(*r);
            }
        }
        out
    }
}

/// (min, median) of a list of timings.
pub fn min_median(mut v: Vec<f64>) -> (f64, f64) {
    assert!(!v.is_empty(), "min_median: no timings");
    v.sort_by(f64::total_cmp);
    (v[0], v[v.len() / 2])
}

/// Runs `f` once to warm up, then `reps` times; (min, median) wall time in milliseconds.
pub fn time_ms(reps: usize, mut f: impl FnMut()) -> (f64, f64) {
    f();
    min_median(
        (0..reps.max(1))
            .map(|_| {
                let t = std::time::Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

/// Runs a kernel that reads `x, w, b` and writes `want.len()` outputs, and checks it against
/// `want` (shape `nhwc` for the report). With `unaligned`, every slice starts one element past
/// its allocation's start (XNNPACK's `input_offset`); otherwise a NaN guard after the output
/// must survive, proving the kernel wrote nothing past its end.
pub fn check_kernel(
    what: &str,
    unaligned: bool,
    [x, w, b]: [&[f32]; 3],
    want: &[f32],
    tol: Tol,
    nhwc: [usize; 4],
    run: impl FnOnce(&[f32], &[f32], &[f32], &mut [f32]),
) {
    let n_out = want.len();
    let (xs, ws, bs) = (offset_by_one(x), offset_by_one(w), offset_by_one(b));
    let (xs, ws, bs): (&[f32], &[f32], &[f32]) = if unaligned {
        (&xs[1..], &ws[1..], &bs[1..])
    } else {
        (x, w, b)
    };
    let mut y = vec![f32::NAN; n_out + 1];
    let yo = if unaligned {
        &mut y[1..]
    } else {
        &mut y[..n_out]
    };
    run(xs, ws, bs, yo);
    assert_close_nhwc(what, yo, want, tol, nhwc);
    if !unaligned {
        assert!(y[n_out].is_nan(), "{what}: wrote past y");
    }
}
