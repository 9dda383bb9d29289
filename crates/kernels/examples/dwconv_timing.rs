//! Wall-clock timing of the 13 MobileNet v1 (α = 1, 224×224, batch 1) depthwise layers:
//! the set back to back (each layer on its own buffers, so inputs are not cache-hot) and each
//! layer repeated on its own (cache-warm), at 1 and 2 threads. Prints min and median.
//!
//! `cargo run --release -p mobilenet-kernels --example dwconv_timing [-- reps [threads...]]`
//! `MOBILENET_ISA=avx2` times another table.

use mobilenet_kernels::testing::{mobilenet_v1::DEPTHWISE, time_ms};
use mobilenet_kernels::{parallel, Clamp, Conv2dGeometry, DwArgs, Kernels, Padding4};

fn main() {
    let mut argv = std::env::args().skip(1);
    let reps: usize = argv.next().map_or(200, |s| s.parse().unwrap());
    let threads: Vec<usize> = argv.map(|s| s.parse().unwrap()).collect();
    let threads = if threads.is_empty() {
        vec![1, 2]
    } else {
        threads
    };
    let k = Kernels::best();
    println!("isa = {}, reps = {reps}", k.isa);
    let mut layers: Vec<_> = DEPTHWISE
        .iter()
        .enumerate()
        .map(|(i, &(h, c, s))| {
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
            let x: Vec<f32> = (0..h * h * c)
                .map(|j| ((j * 7 + i) % 13) as f32 * 0.1 - 0.5)
                .collect();
            let w: Vec<f32> = (0..9 * c).map(|j| ((j % 11) as f32) * 0.05 - 0.2).collect();
            let b = vec![0.1f32; c];
            (args, x, w, b, vec![0f32; oh * oh * c])
        })
        .collect();
    for &nt in &threads {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(nt)
            .build()
            .unwrap();
        pool.install(|| {
            let (mn, md) = time_ms(reps, || {
                for (args, x, w, b, y) in layers.iter_mut() {
                    parallel::dwconv3x3(&k, args, 1, x, w, b, Clamp::RELU6, y);
                }
            });
            println!("threads={nt} dwconv3x3 x13 back to back: min {mn:.3} ms, median {md:.3} ms");
            let (mut smn, mut smd) = (0.0, 0.0);
            for (args, x, w, b, y) in layers.iter_mut() {
                let (mn, md) = time_ms(reps, || {
                    parallel::dwconv3x3(&k, args, 1, x, w, b, Clamp::RELU6, y)
                });
                smn += mn;
                smd += md;
                let g = args.geom;
                let flop = 18.0 * (g.out_h() * g.out_w() * args.c) as f64;
                println!(
                    "  c={:4},h={:3},s={}: min {mn:.4} ms, median {md:.4} ms, {:5.1} GFLOP/s (min)",
                    args.c,
                    g.in_h,
                    g.stride,
                    flop / mn * 1e-6
                );
            }
            println!("threads={nt} per-layer warm sum: min {smn:.3} ms, median {smd:.3} ms");
        });
    }
}
