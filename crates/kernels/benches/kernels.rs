//! Kernel benches on the MobileNet v1 (α = 1, 224×224) shapes: depthwise rows of Table 1, the
//! stem, and the pointwise GEMMs. Each group has `reference` plus every ISA this CPU runs;
//! throughput is FLOPs (2·MACs). Single-threaded kernels (the `Kernels` table and
//! `gemm::sgemm` + `bias_clamp`), so numbers are per core.
//!
//! `cargo bench -p mobilenet-kernels --bench kernels [-- FILTER]`

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mobilenet_kernels::testing::mobilenet_v1::{distinct, stem, DEPTHWISE, FC, POINTWISE};
use mobilenet_kernels::{gemm, reference, Clamp, Conv2dGeometry, DwArgs, Isa, Kernels, Padding4};

fn tables() -> Vec<Kernels> {
    Isa::available()
        .into_iter()
        .filter_map(Kernels::for_isa)
        .collect()
}

fn short(c: &mut Criterion) -> criterion::BenchmarkGroup<'_, criterion::measurement::WallTime> {
    let mut g = c.benchmark_group("kernels");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(500));
    g
}

fn dwconv3x3(c: &mut Criterion) {
    for (h, ch, s) in distinct(&DEPTHWISE) {
        let args = DwArgs {
            geom: Conv2dGeometry {
                in_h: h,
                in_w: h,
                stride: s,
                pad: Padding4::tf_same(h, h, s),
            },
            c: ch,
        };
        let oh = args.geom.out_h();
        let (x, w, b) = (
            vec![0.5f32; h * h * ch],
            vec![0.1f32; 9 * ch],
            vec![0f32; ch],
        );
        let mut y = vec![0f32; oh * oh * ch];
        let mut g = short(c);
        g.throughput(Throughput::Elements((2 * 9 * oh * oh * ch) as u64));
        for k in tables() {
            let id = BenchmarkId::new(
                format!("dwconv3x3/{}", k.isa),
                format!("c={ch},h={h},s={s}"),
            );
            g.bench_function(id, |bn| {
                bn.iter(|| (k.dwconv3x3)(&args, &x, &w, &b, Clamp::RELU6, 0..oh, &mut y))
            });
        }
        g.finish();
    }
}

fn conv3x3_stem(c: &mut Criterion) {
    let args = stem();
    let (x, w, b) = (
        vec![0.5f32; 224 * 224 * 3],
        vec![0.1f32; 27 * 32],
        vec![0f32; 32],
    );
    let mut y = vec![0f32; 112 * 112 * 32];
    let mut g = short(c);
    g.throughput(Throughput::Elements((2 * 112 * 112 * 27 * 32) as u64));
    for k in tables() {
        let id = BenchmarkId::new(format!("conv3x3/{}", k.isa), "cin=3,cout=32,h=224,s=2");
        g.bench_function(id, |bn| {
            bn.iter(|| (k.conv3x3)(&args, &x, &w, &b, Clamp::RELU6, 0..112, &mut y))
        });
    }
    g.finish();
}

fn pointwise(c: &mut Criterion) {
    for (m, k, n) in distinct(&POINTWISE).into_iter().chain([FC]) {
        let (x, w, b) = (vec![0.5f32; m * k], vec![0.01f32; k * n], vec![0f32; n]);
        let mut y = vec![0f32; m * n];
        let mut g = short(c);
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let shape = format!("m={m},k={k},n={n}");
        // The naive f64-accumulating matmul is the baseline only where it finishes quickly.
        if m * k * n <= 49 * 512 * 1024 {
            g.bench_function(BenchmarkId::new("pointwise/reference", &shape), |bn| {
                bn.iter(|| {
                    reference::matmul::matmul(m, n, k, &x, &w, &mut y, false);
                    reference::elementwise::bias_clamp(&mut y, &b, Clamp::RELU6);
                })
            });
        }
        for kern in tables() {
            g.bench_function(
                BenchmarkId::new(format!("pointwise/gemm+{}", kern.isa), &shape),
                |bn| {
                    bn.iter(|| {
                        gemm::sgemm(m, n, k, &x, &w, &mut y, false);
                        (kern.bias_clamp)(&mut y, &b, Clamp::RELU6);
                    })
                },
            );
        }
        g.finish();
    }
}

criterion_group!(benches, dwconv3x3, conv3x3_stem, pointwise);
criterion_main!(benches);
