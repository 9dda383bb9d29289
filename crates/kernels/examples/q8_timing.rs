//! Times the int8 path's 3×3 passes on one depthwise layer (14 × 14 × 512, stride 1):
//! dequantize, the f32 depthwise kernel, requantize; one thread, each table.
//! `cargo run --release -p mobilenet-kernels --example q8_timing`

use std::time::Instant;

use mobilenet_kernels::geometry::{Clamp, Conv2dGeometry, DwArgs, Padding4};
use mobilenet_kernels::quant::{Epilogue, OutputQuant, Requant};
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

fn main() {
    let (h, c) = (14, 512);
    let geom = Conv2dGeometry {
        in_h: h,
        in_w: h,
        stride: 1,
        pad: Padding4::tf_same(h, h, 1),
    };
    let args = DwArgs { geom, c };
    let len = h * h * c;
    let x: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
    let w: Vec<f32> = (0..9 * c).map(|i| (i % 17) as f32 - 8.0).collect();
    let zeros = vec![0.0f32; c];
    let e = Epilogue::new(
        vec![100; c],
        OutputQuant {
            requant: (0..c)
                .map(|i| Requant::from_real(1e-3 * (1.0 + i as f64 / c as f64)))
                .collect(),
            zero_point: 0,
            min: 0,
            max: 255,
        },
    );
    let mut xf = vec![0.0f32; len];
    let mut acc = vec![0.0f32; len];
    let mut y = vec![0u8; len];
    for k in kernel_tables() {
        let dq = best(|| (k.q8.dequantize)(&x, 128, &mut xf));
        let dw = best(|| (k.dwconv3x3)(&args, &xf, &w, &zeros, Clamp::NONE, 0..h, &mut acc));
        let rq = best(|| (k.q8.requantize)(&acc, &e, &mut y));
        println!(
            "{:10} dequantize {dq:7.1} µs  dwconv3x3 {dw:7.1} µs  requantize {rq:7.1} µs",
            k.isa
        );
    }
}
