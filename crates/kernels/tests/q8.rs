//! The quantized entries of every kernel table this CPU runs must equal the reference bit for
//! bit, on edge-case shapes: K not a multiple of 4, N below, at and above a 16-column panel,
//! M below and above a 6-row tile, symmetric and asymmetric weights, per-tensor and
//! per-channel requantization with left and right shifts, clamps that bite.
//! The float-carried 3×3 path (dequantize → f32 kernel → requantize) must equal the direct
//! integer specs.

use mobilenet_kernels::geometry::{Clamp, Conv2dGeometry, ConvArgs, DwArgs, Padding4};
use mobilenet_kernels::qdepthwise::QDepthwise;
use mobilenet_kernels::qpacked::QPointwise;
use mobilenet_kernels::quant::{Epilogue, OutputQuant, Requant};
use mobilenet_kernels::reference::q8 as r;
use mobilenet_kernels::testing::{kernel_tables, Rng};

fn bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| (rng.next_u64() >> 56) as u8).collect()
}

fn weights(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n).map(|_| (rng.next_u64() >> 56) as u8 as i8).collect()
}

fn int(rng: &mut Rng, lo: i32, hi: i32) -> i32 {
    lo + (rng.next_u64() % (hi - lo + 1) as u64) as i32
}

/// Per-channel (or one) factors around `typical`, with a few ≥ 1 (left shifts).
fn output_quant(rng: &mut Rng, channels: usize, per_channel: bool, typical: f64) -> OutputQuant {
    let count = if per_channel { channels } else { 1 };
    let requant = (0..count)
        .map(|i| {
            let f = if i % 7 == 3 {
                1.7
            } else {
                typical * (0.5 + rng.uniform(0.0, 1.0) as f64)
            };
            Requant::from_real(f)
        })
        .collect();
    OutputQuant {
        requant,
        zero_point: int(rng, 60, 190),
        min: int(rng, 0, 40),
        max: int(rng, 215, 255),
    }
}

#[test]
fn pointwise_matches_the_reference() {
    let mut rng = Rng::new(7);
    let tables = kernel_tables();
    for &(m, k, n) in &[
        (1, 1, 1),
        (1, 8, 1001),
        (5, 3, 17),
        (6, 16, 16),
        (7, 33, 64),
        (13, 64, 65),
        (2, 1024, 48),
        (49, 256, 130),
    ] {
        for (asym, per_channel) in [(false, true), (true, false), (true, true)] {
            let x = bytes(&mut rng, m * k);
            let w = weights(&mut rng, k * n);
            let wz: Vec<i32> = if !asym {
                vec![0]
            } else if per_channel {
                (0..n).map(|_| int(&mut rng, -128, 127)).collect()
            } else {
                vec![int(&mut rng, -100, 100)]
            };
            let bias: Vec<i32> = (0..n).map(|_| int(&mut rng, -50_000, 50_000)).collect();
            let typical = 1.0 / (k as f64 * 4000.0);
            let out = output_quant(&mut rng, n, per_channel, typical);
            let xz = int(&mut rng, 0, 255);
            let p = QPointwise::new(k, n, w, &wz, bias, xz, out);
            let mut want = vec![0u8; m * n];
            r::pointwise(&x, &p, 0..p.panels(), &mut want);
            let distinct = want.iter().collect::<std::collections::BTreeSet<_>>().len();
            assert!(
                distinct > 1 || m * n == 1,
                "degenerate test data for {m}×{k}×{n}: {:?} {:?}",
                &want[..want.len().min(20)],
                p.out
            );
            for t in &tables {
                let mut got = vec![0u8; m * n];
                (t.q8.pointwise)(&x, &p, 0..p.panels(), &mut got);
                assert_eq!(
                    got, want,
                    "{} ({}): {m}×{k}×{n} asym {asym}",
                    t.isa, t.q8.name
                );
                // A panel range writes its own columns only.
                if p.panels() > 1 {
                    let mut part = vec![7u8; m * n];
                    (t.q8.pointwise)(&x, &p, 1..p.panels(), &mut part);
                    for i in 0..m {
                        for j in 0..n {
                            let expect = if j < 16 { 7 } else { want[i * n + j] };
                            assert_eq!(part[i * n + j], expect, "{}: panels 1.. at {i},{j}", t.isa);
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn requantize_and_dequantize_match_the_reference() {
    let mut rng = Rng::new(11);
    for &(rows, c) in &[(1, 1), (3, 15), (5, 16), (4, 17), (2, 100)] {
        let acc: Vec<f32> = (0..rows * c)
            .map(|_| int(&mut rng, -600_000, 600_000) as f32)
            .collect();
        let bias: Vec<i32> = (0..c).map(|_| int(&mut rng, -100_000, 100_000)).collect();
        let e = Epilogue::new(bias, output_quant(&mut rng, c, true, 1e-3));
        let mut want = vec![0u8; rows * c];
        r::requantize(&acc, &e, &mut want);
        let x = bytes(&mut rng, rows * c);
        let mut want_f = vec![0f32; rows * c];
        r::dequantize(&x, 77, &mut want_f);
        for t in kernel_tables() {
            let mut got = vec![0u8; rows * c];
            (t.q8.requantize)(&acc, &e, &mut got);
            assert_eq!(got, want, "{}: requantize {rows}×{c}", t.isa);
            let mut got_f = vec![0f32; rows * c];
            (t.q8.dequantize)(&x, 77, &mut got_f);
            assert_eq!(got_f, want_f, "{}: dequantize {rows}×{c}", t.isa);
        }
    }
}

fn geometry(h: usize, w: usize, stride: usize, pad: Padding4) -> Conv2dGeometry {
    Conv2dGeometry {
        in_h: h,
        in_w: w,
        stride,
        pad,
    }
}

/// The float-carried depthwise and dense 3×3 layers equal the integer specs on every table.
#[test]
fn float_carried_3x3_layers_equal_the_integer_specs() {
    let mut rng = Rng::new(5);
    let pads = [Padding4::symmetric(1), Padding4::tf_same(9, 7, 2)];
    for (stride, pad) in [(1, pads[0]), (2, pads[1]), (2, pads[0])] {
        for c in [1, 8, 17, 32] {
            let g = geometry(9, 7, stride, pad);
            let args = DwArgs { geom: g, c };
            let (oh, ow) = (g.out_h(), g.out_w());
            let x = bytes(&mut rng, 9 * 7 * c);
            let w = weights(&mut rng, 9 * c);
            let wz: Vec<i32> = (0..c).map(|_| int(&mut rng, -128, 127)).collect();
            let bias: Vec<i32> = (0..c).map(|_| int(&mut rng, -20_000, 20_000)).collect();
            let out = output_quant(&mut rng, c, true, 1.0 / 3000.0);
            let xz = int(&mut rng, 0, 255);
            let mut want = vec![0u8; oh * ow * c];
            r::dwconv3x3(&args, &x, xz, &w, &wz, &bias, &out, &mut want);
            let wf: Vec<f32> = (0..9 * c)
                .map(|i| (w[i] as i32 - wz[i % c]) as f32)
                .collect();
            let e = Epilogue::new(bias.clone(), out.clone());
            for t in kernel_tables() {
                let mut xf = vec![0f32; x.len()];
                (t.q8.dequantize)(&x, xz, &mut xf);
                let mut acc = vec![0f32; oh * ow * c];
                (t.dwconv3x3)(&args, &xf, &wf, &vec![0.0; c], Clamp::NONE, 0..oh, &mut acc);
                let mut got = vec![0u8; acc.len()];
                (t.q8.requantize)(&acc, &e, &mut got);
                assert_eq!(got, want, "{}: depthwise stride {stride} c {c}", t.isa);
            }
        }
    }
    // The stem: 3 → 8 channels.
    let g = geometry(11, 10, 2, Padding4::tf_same(11, 10, 2));
    let args = ConvArgs {
        geom: g,
        cin: 3,
        cout: 8,
    };
    let (oh, ow) = (g.out_h(), g.out_w());
    let x = bytes(&mut rng, 11 * 10 * 3);
    let w = weights(&mut rng, 27 * 8);
    let wz = vec![int(&mut rng, -128, 127)];
    let bias: Vec<i32> = (0..8).map(|_| int(&mut rng, -20_000, 20_000)).collect();
    let out = output_quant(&mut rng, 8, false, 1.0 / 5000.0);
    let mut want = vec![0u8; oh * ow * 8];
    r::conv3x3(&args, &x, 128, &w, &wz, &bias, &out, &mut want);
    let wf: Vec<f32> = w.iter().map(|&v| (v as i32 - wz[0]) as f32).collect();
    let e = Epilogue::new(bias, out);
    for t in kernel_tables() {
        let mut xf = vec![0f32; x.len()];
        (t.q8.dequantize)(&x, 128, &mut xf);
        let mut acc = vec![0f32; oh * ow * 8];
        (t.conv3x3)(&args, &xf, &wf, &[0.0; 8], Clamp::NONE, 0..oh, &mut acc);
        let mut got = vec![0u8; acc.len()];
        (t.q8.requantize)(&acc, &e, &mut got);
        assert_eq!(got, want, "{}: stem", t.isa);
    }
}

/// The native uint8 depthwise kernels equal the integer spec on every table: channels below,
/// at and above a vector (with tails), images smaller than the kernel, stride 1 and 2, both
/// paddings, zero points that make padded taps count, and output row bands.
#[test]
fn depthwise_matches_the_spec() {
    let mut rng = Rng::new(17);
    let mut cases = 0;
    for c in [1, 3, 8, 13, 16, 24, 40] {
        for (h, w) in [(1, 1), (2, 3), (3, 3), (5, 4), (9, 7), (8, 8)] {
            for stride in [1, 2] {
                for pad in [Padding4::symmetric(1), Padding4::tf_same(h, w, stride)] {
                    let g = geometry(h, w, stride, pad);
                    if h + pad.top + pad.bottom < 3 || w + pad.left + pad.right < 3 {
                        continue;
                    }
                    let args = DwArgs { geom: g, c };
                    let (oh, ow) = (g.out_h(), g.out_w());
                    let x = bytes(&mut rng, h * w * c);
                    let wt = weights(&mut rng, 9 * c);
                    let per_channel = c % 2 == 1;
                    let wz: Vec<i32> = if per_channel {
                        (0..c).map(|_| int(&mut rng, -128, 127)).collect()
                    } else {
                        vec![int(&mut rng, -20, 20)]
                    };
                    let bias: Vec<i32> = (0..c).map(|_| int(&mut rng, -20_000, 20_000)).collect();
                    let out = output_quant(&mut rng, c, per_channel, 1.0 / 3000.0);
                    let xz = int(&mut rng, 0, 255);
                    let mut want = vec![0u8; oh * ow * c];
                    r::dwconv3x3(&args, &x, xz, &wt, &wz, &bias, &out, &mut want);
                    let distinct = want.iter().collect::<std::collections::BTreeSet<_>>().len();
                    assert!(distinct > 1 || want.len() < 8, "degenerate data: {want:?}");
                    let p = QDepthwise::new(c, wt, &wz, bias, xz, out);
                    let split = oh / 2;
                    for t in kernel_tables() {
                        let mut got = vec![0u8; oh * ow * c];
                        let (top, bottom) = got.split_at_mut(split * ow * c);
                        (t.q8.dwconv3x3)(&args, &x, &p, 0..split, top);
                        (t.q8.dwconv3x3)(&args, &x, &p, split..oh, bottom);
                        assert_eq!(
                            got, want,
                            "{}: depthwise {h}×{w}×{c} stride {stride} pad {pad:?}",
                            t.isa
                        );
                    }
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 100, "{cases} cases");
}

/// Each table names the int8 GEMM it holds, and that is the fastest one the CPU can run:
/// VNNI on an AVX-512 CPU with it, else the AVX2 GEMM (never the reference on an x86-64 CPU
/// with AVX2).
#[test]
fn every_table_holds_the_best_int8_gemm_its_cpu_runs() {
    for t in kernel_tables() {
        let want = match t.isa {
            mobilenet_kernels::Isa::Reference => "reference",
            mobilenet_kernels::Isa::Avx2 => "avx2",
            mobilenet_kernels::Isa::Avx512 => {
                #[cfg(target_arch = "x86_64")]
                let vnni =
                    is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni");
                #[cfg(not(target_arch = "x86_64"))]
                let vnni = false;
                if vnni {
                    "avx512-vnni"
                } else {
                    "avx2"
                }
            }
        };
        assert_eq!(t.q8.name, want, "{}", t.isa);
    }
}
