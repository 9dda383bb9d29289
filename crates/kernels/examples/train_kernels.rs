//! Wall-clock timing of the training kernels on the CIFAR-10 MobileNet v1 shapes at batch N
//! (default 128), through the `parallel::train` entry points, for the reference table and
//! every ISA this CPU runs. Prints min (and median) per kernel and shape, as GFLOP/s for the
//! depthwise gradients (2·9 flops per output element) and GB/s for the BatchNorm passes
//! (bytes each pass must read and write once).
//!
//! `cargo run --release -p mobilenet-kernels --example train_kernels [-- reps [batch [threads]]]`

use mobilenet_kernels::parallel::train;
use mobilenet_kernels::reference::batch_norm::BnStats;
use mobilenet_kernels::testing::{time_ms, Rng};
use mobilenet_kernels::{Clamp, Conv2dGeometry, DwArgs, Isa, Kernels, Padding4};

/// (H = W, C, stride) of the depthwise layers of MobileNet v1 on 32×32 inputs.
const DW: [(usize, usize, usize); 9] = [
    (32, 32, 1),
    (32, 64, 2),
    (16, 128, 1),
    (16, 128, 2),
    (8, 256, 1),
    (8, 256, 2),
    (4, 512, 1),
    (4, 512, 2),
    (2, 1024, 1),
];

/// (H = W, C) of the BatchNorm inputs.
const BN: [(usize, usize); 6] = [(32, 32), (32, 64), (16, 128), (8, 256), (4, 512), (2, 1024)];

fn main() {
    let mut argv = std::env::args().skip(1);
    let reps: usize = argv.next().map_or(10, |s| s.parse().unwrap());
    let n: usize = argv.next().map_or(128, |s| s.parse().unwrap());
    let threads: usize = argv.next().map_or(1, |s| s.parse().unwrap());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .unwrap();
    let tables: Vec<Kernels> = Isa::available()
        .into_iter()
        .filter_map(Kernels::for_isa)
        .collect();
    println!(
        "batch {n}, threads {threads}, reps {reps} (reference: {} reps)",
        reps.min(3)
    );
    println!("min (median) per call; GFLOP/s or GB/s from the min\n");
    let mut rng = Rng::new(1);
    pool.install(|| {
        println!("| kernel | shape (N={n}) | {} |", names(&tables));
        println!("|---|---|{}", "---|".repeat(tables.len()));
        for &(h, c, s) in &DW {
            let args = DwArgs {
                geom: Conv2dGeometry {
                    in_h: h,
                    in_w: h,
                    stride: s,
                    pad: Padding4::tf_same(h, h, s),
                },
                c,
            };
            let g = args.geom;
            let (il, ol) = (h * h * c, g.out_h() * g.out_w() * c);
            let x = rng.fill(n * il, -1.0, 1.0);
            let dy = rng.fill(n * ol, -1.0, 1.0);
            let w = rng.fill(9 * c, -1.0, 1.0);
            let mut dx = vec![0.0; n * il];
            let mut dw = vec![0.0; 9 * c];
            let mut ws = train::Workspace::default();
            let flop = 18.0 * (n * ol) as f64;
            let shape = format!("{h}×{h}×{c} s{s}");
            let row = |f: &mut dyn FnMut(&Kernels)| {
                tables
                    .iter()
                    .map(|k| {
                        let r = if k.isa == Isa::Reference {
                            reps.min(3)
                        } else {
                            reps
                        };
                        let (mn, md) = time_ms(r, || f(k));
                        format!("{mn:.3} ({md:.3}) ms, {:.1} G", flop / mn * 1e-6)
                    })
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            let cells =
                row(&mut |k| train::dwconv3x3_backward_input(k, &args, n, &dy, &w, &mut dx));
            println!("| dw backward_input | {shape} | {cells} |");
            let cells = row(&mut |k| {
                train::dwconv3x3_backward_filter(k, &args, n, &x, &dy, &mut dw, &mut ws)
            });
            println!("| dw backward_filter | {shape} | {cells} |");
        }
        for &(h, c) in &BN {
            let m = n * h * h;
            let z = rng.fill(m * c, -2.0, 4.0);
            let da = rng.fill(m * c, -1.0, 1.0);
            let mean = rng.fill(c, -0.1, 0.1);
            let rstd = rng.fill(c, 0.5, 2.0);
            let gamma = rng.fill(c, 0.5, 1.5);
            let (scale, shift) = (vec![1.0; c], vec![0.0; c]);
            let stats = BnStats {
                mean: &mean,
                rstd: &rstd,
                scale: &scale,
                shift: &shift,
            };
            let mut ws = train::Workspace::default();
            let (mut s, mut q) = (vec![0.0; c], vec![0.0; c]);
            let mut y = vec![0.0; m * c];
            let mut d = da.clone();
            let (mut dg, mut db) = (vec![0.0; c], vec![0.0; c]);
            let shape = format!("{h}×{h}×{c}");
            let elems = (m * c) as f64;
            let row = |bytes_per: f64, f: &mut dyn FnMut(&Kernels)| {
                tables
                    .iter()
                    .map(|k| {
                        let r = if k.isa == Isa::Reference {
                            reps.min(3)
                        } else {
                            reps
                        };
                        let (mn, md) = time_ms(r, || f(k));
                        format!(
                            "{mn:.3} ({md:.3}) ms, {:.1} GB/s",
                            bytes_per * elems / mn * 1e-6
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(" | ")
            };
            let cells = row(4.0, &mut |k| {
                train::bn_sums(k, &z, &mean, &mut s, &mut q, &mut ws)
            });
            println!("| bn_sums | {shape} | {cells} |");
            let cells = row(8.0, &mut |k| {
                train::scale_shift_clamp(k, &z, &gamma, &mean, Clamp::RELU6, &mut y)
            });
            println!("| scale_shift_clamp | {shape} | {cells} |");
            // Both passes: sums read da, z; apply reads d, z and writes d; plus the copy that
            // restores d (read da, write d): 28 bytes per element.
            let cells = row(28.0, &mut |k| {
                d.copy_from_slice(&da);
                train::bn_act_backward(
                    k,
                    &mut d,
                    &z,
                    stats,
                    &gamma,
                    Clamp::RELU6,
                    &mut dg,
                    &mut db,
                    &mut ws,
                )
            });
            println!("| bn_act_backward (+copy) | {shape} | {cells} |");
        }
    });
}

fn names(tables: &[Kernels]) -> String {
    tables
        .iter()
        .map(|k| k.isa.name())
        .collect::<Vec<_>>()
        .join(" | ")
}
