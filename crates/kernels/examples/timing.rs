//! Quick wall-clock timing of the MobileNet v1 (α = 1, 224×224, batch 1) kernel sets, for
//! numbers criterion takes too long to gather: the 13 depthwise layers, the stem, and the 13
//! pointwise GEMMs, at 1 and 2 threads. Prints min and median over repeated runs.
//!
//! `cargo run --release -p mobilenet-kernels --example timing [-- reps]`
//! `MOBILENET_ISA=avx2` times another table.

use mobilenet_kernels::testing::mobilenet_v1::{stem, DEPTHWISE, POINTWISE};
use mobilenet_kernels::testing::time_ms;
use mobilenet_kernels::{parallel, Clamp, Conv2dGeometry, DwArgs, Kernels, Padding4};

fn main() {
    let reps: usize = std::env::args().nth(1).map_or(50, |s| s.parse().unwrap());
    let k = Kernels::best();
    println!("isa = {}, reps = {reps}", k.isa);
    for threads in [1, 2] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        pool.install(|| {
            // Depthwise: all 13 layers, buffers allocated once.
            let layers: Vec<_> = DEPTHWISE
                .iter()
                .map(|&(h, c, s)| {
                    let args = DwArgs {
                        geom: Conv2dGeometry {
                            in_h: h,
                            in_w: h,
                            stride: s,
                            pad: Padding4::tf_same(h, h, s),
                        },
                        c,
                    };
                    let oh = args.geom.out_h();
                    (
                        args,
                        vec![0.5f32; h * h * c],
                        vec![0.1f32; 9 * c],
                        vec![0.0f32; c],
                        vec![0f32; oh * oh * c],
                    )
                })
                .collect();
            let mut layers = layers;
            let (mn, md) = time_ms(reps, || {
                for (args, x, w, b, y) in layers.iter_mut() {
                    parallel::dwconv3x3(&k, args, 1, x, w, b, Clamp::RELU6, y);
                }
            });
            println!("threads={threads} dwconv3x3 x13: min {mn:.3} ms, median {md:.3} ms");
            if std::env::var_os("TIMING_PER_LAYER").is_some() {
                for (args, x, w, b, y) in layers.iter_mut() {
                    let (mn, md) = time_ms(reps, || {
                        parallel::dwconv3x3(&k, args, 1, x, w, b, Clamp::RELU6, y)
                    });
                    let g = args.geom;
                    println!(
                        "  dwconv3x3 c={},h={},s={}: min {mn:.3} ms, median {md:.3} ms",
                        args.c, g.in_h, g.stride
                    );
                }
            }

            let args = stem();
            let (x, w, b) = (
                vec![0.5f32; 224 * 224 * 3],
                vec![0.1f32; 27 * 32],
                vec![0f32; 32],
            );
            let mut y = vec![0f32; 112 * 112 * 32];
            let (mn, md) = time_ms(reps, || {
                parallel::conv3x3(&k, &args, 1, &x, &w, &b, Clamp::RELU6, &mut y)
            });
            println!("threads={threads} conv3x3 stem: min {mn:.3} ms, median {md:.3} ms");

            let mut gemms: Vec<_> = POINTWISE
                .iter()
                .map(|&(m, kk, n)| {
                    (
                        m,
                        kk,
                        n,
                        vec![0.5f32; m * kk],
                        vec![0.01f32; kk * n],
                        vec![0f32; n],
                        vec![0f32; m * n],
                    )
                })
                .collect();
            let (mn, md) = time_ms(reps, || {
                for (m, kk, n, x, w, b, y) in gemms.iter_mut() {
                    parallel::pointwise(&k, *m, *n, *kk, x, w, b, Clamp::RELU6, y);
                }
            });
            println!("threads={threads} pointwise x13: min {mn:.3} ms, median {md:.3} ms");
            if std::env::var_os("TIMING_PER_LAYER").is_some() {
                for (m, kk, n, x, w, b, y) in gemms.iter_mut() {
                    let (mn, md) = time_ms(reps, || {
                        parallel::pointwise(&k, *m, *n, *kk, x, w, b, Clamp::RELU6, y)
                    });
                    println!("  pointwise m={m},k={kk},n={n}: min {mn:.3} ms, median {md:.3} ms");
                }
            }
        });
    }
}
