//! Wall-clock timing of the 13 MobileNet v1 pointwise GEMMs (α = 1, 224×224, batch 1, each with
//! bias + ReLU6) and the classifier: the gemm-crate path (`parallel::pointwise`) against our
//! packed-weight microkernel (`parallel::pointwise_packed`, weights packed once before timing),
//! at 1 and 2 threads. The two paths alternate over several rounds so host noise hits both;
//! prints min and median over all timed runs.
//!
//! `cargo run --release -p mobilenet-kernels --example pointwise [-- reps rounds]`
//! `TIMING_PER_LAYER=1` adds one line per shape, `PW_SHAPE=m,k,n` times that shape instead of the
//! classifier. `MOBILENET_ISA=avx2` times another table.

use std::time::Instant;

use mobilenet_kernels::testing::{min_median, mobilenet_v1::POINTWISE};
use mobilenet_kernels::{pack_weights, parallel, Clamp, Kernels, PackedWeights};

/// The classifier, timed on its own.
const FC: (usize, usize, usize) = (1, 1024, 1001);

struct Layer {
    m: usize,
    k: usize,
    n: usize,
    x: Vec<f32>,
    w: Vec<f32>,
    pw: PackedWeights,
    b: Vec<f32>,
    y: Vec<f32>,
}

impl Layer {
    fn new((m, k, n): (usize, usize, usize)) -> Layer {
        let w: Vec<f32> = (0..k * n).map(|i| ((i % 13) as f32 - 6.0) * 0.01).collect();
        Layer {
            m,
            k,
            n,
            x: (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect(),
            pw: pack_weights(k, n, &w),
            w,
            b: vec![0.1; n],
            y: vec![0.0; m * n],
        }
    }

    fn gemm(&mut self, kern: &Kernels, clamp: Clamp) {
        let l = self;
        parallel::pointwise(kern, l.m, l.n, l.k, &l.x, &l.w, &l.b, clamp, &mut l.y);
    }

    fn packed(&mut self, kern: &Kernels, clamp: Clamp) {
        let l = self;
        parallel::pointwise_packed(kern, l.m, &l.x, &l.pw, &l.b, clamp, &mut l.y);
    }

    fn flops(&self) -> f64 {
        2.0 * (self.m * self.k * self.n) as f64
    }
}

/// Appends `reps` timings (ms) of `f` to `out`, after one untimed call.
fn time(reps: usize, out: &mut Vec<f64>, mut f: impl FnMut()) {
    f();
    for _ in 0..reps {
        let t = Instant::now();
        f();
        out.push(t.elapsed().as_secs_f64() * 1e3);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let reps: usize = args.next().map_or(30, |s| s.parse().unwrap());
    let rounds: usize = args.next().map_or(5, |s| s.parse().unwrap());
    let kern = Kernels::best();
    let per_layer = std::env::var_os("TIMING_PER_LAYER").is_some();
    println!("isa = {}, reps = {reps} × {rounds} rounds", kern.isa);
    let mut layers: Vec<Layer> = POINTWISE.iter().map(|&s| Layer::new(s)).collect();
    // `PW_SHAPE=m,k,n` times that one shape instead of the classifier.
    let fc_shape = std::env::var("PW_SHAPE").map_or(FC, |s| {
        let v: Vec<usize> = s.split(',').map(|t| t.trim().parse().unwrap()).collect();
        (v[0], v[1], v[2])
    });
    let mut fc = Layer::new(fc_shape);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            let (mut tg, mut tp) = (Vec::new(), Vec::new());
            for _ in 0..rounds {
                time(reps, &mut tg, || {
                    layers.iter_mut().for_each(|l| l.gemm(&kern, Clamp::RELU6))
                });
                time(reps, &mut tp, || {
                    layers
                        .iter_mut()
                        .for_each(|l| l.packed(&kern, Clamp::RELU6))
                });
            }
            let total: f64 = layers.iter().map(Layer::flops).sum();
            for (name, t) in [("gemm  ", tg), ("packed", tp)] {
                let (mn, md) = min_median(t);
                println!(
                    "threads={threads} pointwise x13 {name}: min {mn:.3} ms, median {md:.3} ms \
                     ({:.0} GFLOP/s at min)",
                    total / mn * 1e-6
                );
            }
            let mut shapes: Vec<&mut Layer> = Vec::new();
            if per_layer {
                // One of each distinct shape.
                for l in layers.iter_mut() {
                    if !shapes.iter().any(|s| (s.m, s.k, s.n) == (l.m, l.k, l.n)) {
                        shapes.push(l);
                    }
                }
            }
            shapes.push(&mut fc);
            for l in shapes {
                let (mut tg, mut tp) = (Vec::new(), Vec::new());
                let clamp = if l.m == FC.0 && l.n == FC.2 {
                    Clamp::NONE
                } else {
                    Clamp::RELU6
                };
                for _ in 0..rounds {
                    time(reps, &mut tg, || l.gemm(&kern, clamp));
                    time(reps, &mut tp, || l.packed(&kern, clamp));
                }
                let ((gm, gd), (pm, pd)) = (min_median(tg), min_median(tp));
                println!(
                    "  m={},k={},n={}: gemm min {gm:.4} / median {gd:.4} ms ({:.0} GFLOP/s), \
                     packed min {pm:.4} / median {pd:.4} ms ({:.0} GFLOP/s)",
                    l.m,
                    l.k,
                    l.n,
                    l.flops() / gm * 1e-6,
                    l.flops() / pm * 1e-6
                );
            }
        });
    }
}
