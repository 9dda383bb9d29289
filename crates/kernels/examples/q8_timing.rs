//! Times the int8 path's 3×3 layers, one thread, each table: a depthwise layer
//! (14 × 14 × 512, stride 1) and the stems of Google's 0.25/128 and 0.5/160 models
//! (im2col, then the uint8 GEMM of (OH·OW, 27) × (27, Cout)), and the input quantization of a
//! 128 × 128 RGB image, and a 14×14 and a 112×112 pointwise layer with 8-bit and 7-bit
//! weights.
//! `cargo run --release -p mobilenet-kernels --example q8_timing`

use std::time::Instant;

use mobilenet_kernels::geometry::{Conv2dGeometry, ConvArgs, DwArgs, Padding4};
use mobilenet_kernels::qdepthwise::QDepthwise;
use mobilenet_kernels::qim2col;
use mobilenet_kernels::qpacked::QPointwise;
use mobilenet_kernels::quant::{OutputQuant, Requant};
use mobilenet_kernels::reference::q8::im2col3x3;
use mobilenet_kernels::testing::kernel_tables;

fn best<F: FnMut()>(mut f: F) -> f64 {
    let mut t = f64::MAX;
    for _ in 0..200 {
        let s = Instant::now();
        f();
        t = t.min(s.elapsed().as_secs_f64() * 1e6);
    }
    t
}

fn out(c: usize) -> OutputQuant {
    OutputQuant {
        requant: (0..c)
            .map(|i| Requant::from_real(1e-3 * (1.0 + i as f64 / c as f64)))
            .collect(),
        zero_point: 0,
        min: 0,
        max: 255,
    }
}

fn bytes(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

/// A stride-1 depthwise layer on h × h × c with its input.
fn dw_layer(h: usize, c: usize) -> (DwArgs, Vec<u8>, QDepthwise) {
    let geom = Conv2dGeometry {
        in_h: h,
        in_w: h,
        stride: 1,
        pad: Padding4::tf_same(h, h, 1),
    };
    let w: Vec<i8> = (0..9 * c).map(|i| (i % 17) as i8 - 8).collect();
    let p = QDepthwise::new(c, w, &[0], vec![100; c], 128, out(c));
    (DwArgs { geom, c }, bytes(h * h * c), p)
}

fn main() {
    let h = 14;
    let (args, x, p) = dw_layer(h, 512);
    let mut y = vec![0u8; x.len()];
    // The first depthwise layers of Google's α 0.25/128, 0.5/160 and 0.75/192 files:
    // stride 1 on fewer channels than a block (the packed layout).
    let small: Vec<_> = [(64, 8), (80, 16), (96, 24)]
        .into_iter()
        .map(|(h, c)| (h, c, dw_layer(h, c)))
        .collect();
    let stems: Vec<(usize, usize)> = vec![(128, 8), (160, 16)];
    for k in kernel_tables() {
        let dw = best(|| (k.q8.dwconv3x3)(&args, &x, &p, 0..h, &mut y));
        print!("{:10} dwconv3x3 14×14×512 {dw:7.1} µs", k.isa);
        for (h, c, (args, x, p)) in &small {
            let mut y = vec![0u8; x.len()];
            let t = best(|| (k.q8.dwconv3x3)(args, x, p, 0..*h, &mut y));
            print!("  {h}×{h}×{c} {t:6.1} µs");
        }
        for &(r, cout) in &stems {
            let geom = Conv2dGeometry {
                in_h: r,
                in_w: r,
                stride: 2,
                pad: Padding4::tf_same(r, r, 2),
            };
            let args = ConvArgs { geom, cin: 3, cout };
            let m = geom.out_h() * geom.out_w();
            let x = bytes(r * r * 3);
            let w: Vec<i8> = (0..27 * cout).map(|i| (i % 13) as i8 - 6).collect();
            let p = QPointwise::new(27, cout, w, &[0], vec![100; cout], 128, out(cout));
            let mut cols = vec![0u8; m * 27];
            let mut y = vec![0u8; m * cout];
            let im = best(|| im2col3x3(&args, &x, 128, 27, 0..geom.out_h(), &mut cols));
            let fast = best(|| qim2col::im2col3x3(&args, &x, 128, 27, 0..geom.out_h(), &mut cols));
            let gemm = best(|| (k.q8.pointwise)(&cols, &p, 0..p.panels(), &mut y));
            print!("  stem {r}/{cout}: im2col {im:6.1} (fast {fast:5.1}) µs gemm {gemm:6.1} µs");
        }
        let xf: Vec<f32> = (0..128 * 128 * 3)
            .map(|i| (i % 255) as f32 / 127.5 - 1.0)
            .collect();
        let mut q = vec![0u8; xf.len()];
        let qt = best(|| (k.q8.quantize)(&xf, 1.0 / 128.0, 128, &mut q));
        println!("  quantize 128×128×3 {qt:6.1} µs");
        // A 14×14 pointwise layer (196 × 512 × 512), and α 1's first one (112×112: 12544 ×
        // 32 × 64), whose small K leaves the epilogue a large share; with 8-bit weights and
        // with weights of at most 7 bits, which the byte-pair GEMM may take
        // (`QPointwise::byte_pairs_exact`).
        for (m, kk, n) in [(196, 512, 512), (12544, 32, 64)] {
            let x = bytes(m * kk);
            let mut y = vec![0u8; m * n];
            for (name, span) in [("8-bit", 251), ("7-bit", 127)] {
                let w: Vec<i8> = (0..kk * n)
                    .map(|i| ((i * 37) % span) as i32 - span as i32 / 2)
                    .map(|v| v as i8)
                    .collect();
                let p = QPointwise::new(kk, n, w, &[0], vec![100; n], 128, out(n));
                let t = best(|| (k.q8.pointwise)(&x, &p, 0..p.panels(), &mut y));
                let gops = 2.0 * (m * kk * n) as f64 / t * 1e-3;
                print!(
                    "{:10} pointwise {m}×{kk}×{n} {name} (byte pairs {}) {t:7.1} µs {gops:6.1} GOP/s  ",
                    "", p.byte_pairs_exact
                );
            }
            println!();
        }
    }
}
