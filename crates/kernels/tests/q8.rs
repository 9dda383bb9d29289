//! The quantized entries of every kernel table this CPU runs must equal the reference bit for
//! bit, on edge-case shapes: K not a multiple of 4, N below, at and above a 16-column panel,
//! M below and above a 6-row tile, symmetric and asymmetric weights, per-tensor and
//! per-channel requantization with left and right shifts, clamps that bite.
//! The depthwise kernels and the dense 3×3 path (im2col → GEMM) must equal the direct integer
//! specs.

use mobilenet_kernels::geometry::{Conv2dGeometry, ConvArgs, DwArgs, Padding4};
use mobilenet_kernels::parallel::team;
use mobilenet_kernels::qdepthwise::QDepthwise;
use mobilenet_kernels::qim2col;
use mobilenet_kernels::qpacked::QPointwise;
use mobilenet_kernels::quant::{
    OutputQuant, Requant, ROUND_EARLY, ROUND_EARLY_NO_LEFT, ROUND_EXACT,
};
use mobilenet_kernels::reference::q8 as r;
use mobilenet_kernels::testing::{kernel_tables, Rng};

fn bytes(rng: &mut Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| (rng.next_u64() >> 56) as u8).collect()
}

fn weights(rng: &mut Rng, n: usize) -> Vec<i8> {
    (0..n).map(|_| (rng.next_u64() >> 56) as u8 as i8).collect()
}

fn int(rng: &mut Rng, lo: i32, hi: i32) -> i32 {
    (lo as i64 + (rng.next_u64() % (hi as i64 - lo as i64 + 1) as u64) as i64) as i32
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
    let zero_point = int(rng, 60, 190);
    let (min, max) = (int(rng, 0, 40), int(rng, 215, 255));
    // Layers of an even channel count clamp to all of 0..=255 (which the AVX2 kernels leave
    // to their packs), the others to a narrower range.
    let (min, max) = if channels.is_multiple_of(2) {
        (0, 255)
    } else {
        (min, max)
    };
    OutputQuant {
        requant,
        zero_point,
        min,
        max,
    }
}

/// The reference GEMM's output for `x`, asserted equal on every kernel table (`what` names
/// the case).
fn pointwise_on_every_table(x: &[u8], p: &QPointwise, what: &str) -> Vec<u8> {
    let m = x.len() / p.k;
    let mut want = vec![0u8; m * p.n];
    r::pointwise(x, p, 0..p.panels(), &mut want);
    for t in &kernel_tables() {
        let mut got = vec![0u8; m * p.n];
        (t.q8.pointwise)(x, p, 0..p.panels(), &mut got);
        assert_eq!(got, want, "{} ({}): {what}", t.isa, t.q8.name);
    }
    want
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
        // More rows than one widened block (60 rows at K = 1024, 126 at K = 512), with a
        // partial block and a partial tile at the end.
        (131, 1024, 20),
        (200, 511, 24),
        // A stem of 8 output channels (α 0.25): one panel of one vector; and layers of 16
        // (the 8-row tiles of one panel, then the rows left over).
        (37, 27, 8),
        (21, 8, 16),
        (8, 40, 16),
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
            let want = pointwise_on_every_table(&x, &p, &format!("{m}×{k}×{n} asym {asym}"));
            let distinct = want.iter().collect::<std::collections::BTreeSet<_>>().len();
            assert!(
                distinct > 1 || m * n == 1,
                "degenerate test data for {m}×{k}×{n}: {:?} {:?}",
                &want[..want.len().min(20)],
                p.out
            );
            for t in &tables {
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

/// Weights whose consecutive pairs stay within `|a| + |b| ≤ 128` (where `vpmaddubsw` is exact),
/// with pairs exactly on the limit now and then: (−128, 0), (64, −64), (127, −1), (−100, 28).
fn byte_pair_weights(rng: &mut Rng, k: usize, n: usize) -> Vec<i8> {
    let mut w = vec![0i8; k * n];
    for q in 0..k / 2 {
        for j in 0..n {
            let (a, b) = match int(rng, 0, 7) {
                0 => (-128, 0),
                1 => (64, -64),
                2 => (127, -1),
                3 => (-100, 28),
                _ => {
                    let a = int(rng, -127, 127);
                    let room = 128 - a.abs();
                    (a, int(rng, -room, room))
                }
            };
            let (a, b) = if int(rng, 0, 1) == 0 { (a, b) } else { (b, a) };
            w[2 * q * n + j] = a as i8;
            w[(2 * q + 1) * n + j] = b as i8;
        }
    }
    w
}

#[test]
fn pointwise_on_byte_pairs_matches_the_reference() {
    let mut rng = Rng::new(11);
    for &(m, k, n) in &[
        (1, 4, 1),
        (3, 8, 16),
        (4, 32, 64),
        (5, 64, 17),
        (9, 128, 33),
        (49, 1024, 40),
        (131, 256, 24),
        (37, 28, 8),
    ] {
        for asym in [false, true] {
            let x = bytes(&mut rng, m * k);
            let w = byte_pair_weights(&mut rng, k, n);
            let wz: Vec<i32> = if asym {
                (0..n).map(|_| int(&mut rng, -20, 20)).collect()
            } else {
                vec![0]
            };
            let bias: Vec<i32> = (0..n).map(|_| int(&mut rng, -50_000, 50_000)).collect();
            let out = output_quant(&mut rng, n, true, 1.0 / (k as f64 * 4000.0));
            let xz = int(&mut rng, 0, 255);
            let p = QPointwise::new(k, n, w, &wz, bias, xz, out);
            assert!(p.byte_pairs_exact, "{m}×{k}×{n}: weights within the limit");
            pointwise_on_every_table(&x, &p, &format!("{m}×{k}×{n} asym {asym}"));
        }
    }
}

#[test]
fn byte_pairs_are_used_only_where_exact() {
    let out = |n| output_quant(&mut Rng::new(1), n, false, 1e-4);
    let make = |k: usize, w: Vec<i8>| QPointwise::new(k, 1, w, &[0], vec![0], 0, out(1));
    assert!(make(4, vec![-128, 0, 64, -64]).byte_pairs_exact);
    // One pair over the limit (127 + 2 = 129 > 128: 255·129 would saturate an i16).
    assert!(!make(4, vec![127, 2, 0, 0]).byte_pairs_exact);
    assert!(!make(4, vec![0, 0, -127, -2]).byte_pairs_exact);
    // K not a multiple of 4: a group would read past the row.
    assert!(!make(6, vec![1; 6]).byte_pairs_exact);
}

fn geometry(h: usize, w: usize, stride: usize, pad: Padding4) -> Conv2dGeometry {
    Conv2dGeometry {
        in_h: h,
        in_w: w,
        stride,
        pad,
    }
}

/// The native uint8 depthwise kernels equal the integer spec on every table: channels below,
/// at and above a vector (with tails) and below a block (the packed layout), images smaller
/// than the kernel, stride 1 and 2, both paddings, zero points that make padded taps count,
/// and output row bands.
#[test]
fn depthwise_matches_the_spec() {
    let mut rng = Rng::new(17);
    let mut cases = 0;
    for c in [1, 3, 6, 8, 13, 16, 24, 32, 40, 65, 96, 128, 137] {
        // 4 × 37: whole groups of the packed layout (C < 32, stride 1) for every C, 32
        // pixels for odd C, and pixels after the last group.
        for (h, w) in [(1, 1), (2, 3), (3, 3), (5, 4), (9, 7), (8, 8), (4, 37)] {
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

/// The whole-layer GEMM on a team of 3 threads equals the reference: one row split by weight
/// panels (the classifier at batch 1), short and tall products split by rows.
#[test]
fn parallel_pointwise_matches_the_reference() {
    let mut rng = Rng::new(41);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(3)
        .build()
        .unwrap();
    for (m, k, n) in [(1, 256, 1001), (1, 64, 40), (2, 256, 1001), (50, 64, 100)] {
        let x = bytes(&mut rng, m * k);
        let wz: Vec<i32> = vec![int(&mut rng, -20, 20)];
        let bias: Vec<i32> = (0..n).map(|_| int(&mut rng, -50_000, 50_000)).collect();
        let out = output_quant(&mut rng, n, false, 1.0 / (k as f64 * 4000.0));
        let p = QPointwise::new(
            k,
            n,
            weights(&mut rng, k * n),
            &wz,
            bias,
            int(&mut rng, 0, 255),
            out,
        );
        let mut want = vec![0u8; m * n];
        r::pointwise(&x, &p, 0..p.panels(), &mut want);
        for t in kernel_tables() {
            let mut got = vec![0u8; m * n];
            pool.install(|| {
                team::with_team(|| mobilenet_kernels::parallel::q8::pointwise(&t, &x, &p, &mut got))
            });
            assert_eq!(got, want, "{}: {m}×{k}×{n} on 3 threads", t.isa);
        }
    }
}

/// Both roundings of the requantization equal the reference on every table: layers whose
/// accumulators are bounded so that the rounding is added early (every real model's), and
/// layers with biases near the i32 limits and a factor above 1, which must take the exact
/// step-by-step path; pointwise (both GEMM paths) and depthwise (whole blocks, packed, tail).
#[test]
fn early_and_exact_rounding_match_the_reference() {
    let mut rng = Rng::new(37);
    for huge in [false, true] {
        let bias_of = |rng: &mut Rng| {
            if huge {
                int(rng, -2_000_000_000, 2_000_000_000)
            } else {
                int(rng, -50_000, 50_000)
            }
        };
        let out = |rng: &mut Rng, n: usize| {
            let mut q = output_quant(rng, n, true, 1e-4);
            if huge {
                // Factors of 1.7 (a left shift) and tiny ones (a long right shift), alternately.
                for (i, r) in q.requant.iter_mut().enumerate() {
                    *r = Requant::from_real(if i % 2 == 0 { 1.7 } else { 3e-9 });
                }
            }
            q
        };
        for (m, k, n, seven_bit) in [(37, 64, 40, false), (37, 64, 40, true), (5, 28, 8, false)] {
            let x = bytes(&mut rng, m * k);
            let w: Vec<i8> = if seven_bit {
                (0..k * n).map(|_| int(&mut rng, -63, 63) as i8).collect()
            } else {
                weights(&mut rng, k * n)
            };
            let wz: Vec<i32> = (0..n)
                .map(|j| if seven_bit { 0 } else { j as i32 % 5 - 2 })
                .collect();
            let bias: Vec<i32> = (0..n).map(|_| bias_of(&mut rng)).collect();
            let q = out(&mut rng, n);
            let p = QPointwise::new(k, n, w, &wz, bias, int(&mut rng, 0, 255), q);
            assert_eq!(p.early_rounding, !huge, "{m}×{k}×{n}");
            // Channels of factor 1.7 (a left shift) keep the early path's left shift.
            let mode = if huge { ROUND_EXACT } else { ROUND_EARLY };
            assert_eq!(p.rounding(), mode, "{m}×{k}×{n}");
            pointwise_on_every_table(&x, &p, &format!("{m}×{k}×{n} huge {huge}"));
        }
        for c in [8, 40, 64] {
            let (h, w) = (6, 9);
            let g = geometry(h, w, 1, Padding4::symmetric(1));
            let args = DwArgs { geom: g, c };
            let x = bytes(&mut rng, h * w * c);
            let wt = weights(&mut rng, 9 * c);
            let wz: Vec<i32> = (0..c).map(|j| j as i32 % 3 - 1).collect();
            let bias: Vec<i32> = (0..c).map(|_| bias_of(&mut rng)).collect();
            let q = out(&mut rng, c);
            let xz = int(&mut rng, 0, 255);
            let mut want = vec![0u8; h * w * c];
            r::dwconv3x3(&args, &x, xz, &wt, &wz, &bias, &q, &mut want);
            let p = QDepthwise::new(c, wt, &wz, bias, xz, q);
            assert_eq!(p.early_rounding, !huge, "depthwise C {c}");
            for t in kernel_tables() {
                let mut got = vec![0u8; h * w * c];
                (t.q8.dwconv3x3)(&args, &x, &p, 0..h, &mut got);
                assert_eq!(got, want, "{}: depthwise C {c} huge {huge}", t.isa);
            }
        }
    }
}

/// Exact ties of both roundings (the doubling high multiply's and the right shift's), which
/// random factors almost never produce: power-of-two factors with short right shifts and small
/// accumulators of both signs put many outputs exactly half a step between two bytes, on the
/// GEMM (every tile width, whole and partial panels) and the depthwise kernels.
#[test]
fn rounding_ties_match_the_reference() {
    let mut rng = Rng::new(41);
    let quant = |rng: &mut Rng, n: usize| {
        let factors = [1.0 / 16.0, 1.0 / 32.0, 3.0 / 128.0, 1.0 / 4.0];
        OutputQuant {
            requant: (0..n)
                .map(|j| Requant::from_real(factors[(j + int(rng, 0, 1) as usize) % 4]))
                .collect(),
            zero_point: 128,
            min: 0,
            max: 255,
        }
    };
    for (m, k, n) in [
        (37, 8, 40),
        (13, 12, 72),
        (7, 5, 64),
        (9, 16, 24),
        (17, 8, 16),
        (16, 12, 8),
    ] {
        let x = bytes(&mut rng, m * k);
        let w: Vec<i8> = (0..k * n).map(|_| int(&mut rng, -3, 3) as i8).collect();
        let bias: Vec<i32> = (0..n).map(|_| int(&mut rng, -300, 300)).collect();
        let p = QPointwise::new(
            k,
            n,
            w,
            &[0],
            bias,
            int(&mut rng, 0, 255),
            quant(&mut rng, n),
        );
        assert_eq!(p.rounding(), ROUND_EARLY_NO_LEFT);
        pointwise_on_every_table(&x, &p, &format!("ties {m}×{k}×{n}"));
    }
    for c in [8, 40, 64] {
        let (h, w) = (6, 9);
        let g = geometry(h, w, 1, Padding4::symmetric(1));
        let args = DwArgs { geom: g, c };
        let x = bytes(&mut rng, h * w * c);
        let wt: Vec<i8> = (0..9 * c).map(|_| int(&mut rng, -3, 3) as i8).collect();
        let bias: Vec<i32> = (0..c).map(|_| int(&mut rng, -300, 300)).collect();
        let q = quant(&mut rng, c);
        let xz = int(&mut rng, 0, 255);
        let mut want = vec![0u8; h * w * c];
        r::dwconv3x3(&args, &x, xz, &wt, &[0], &bias, &q, &mut want);
        let p = QDepthwise::new(c, wt, &[0], bias, xz, q);
        for t in kernel_tables() {
            let mut got = vec![0u8; h * w * c];
            (t.q8.dwconv3x3)(&args, &x, &p, 0..h, &mut got);
            assert_eq!(got, want, "{}: ties, depthwise C {c}", t.isa);
        }
    }
}

/// Input quantization equals the reference on every table, bit for bit: exact halves (both
/// signs), the f32 value just below one half, ±0, NaN, infinities, values far beyond the
/// clamp, and every tail length.
#[test]
fn quantize_matches_the_reference() {
    let mut rng = Rng::new(23);
    let below_half = f32::from_bits(0.5f32.to_bits() - 1);
    for (scale, zp) in [
        (0.5f32, 128),
        (1.0 / 128.0, 0),
        (1.0 / 42.5, 255),
        (0.017, 77),
    ] {
        let mut x: Vec<f32> = (-300..300).map(|k| (k as f32 + 0.5) * scale).collect();
        x.extend([
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            1e30,
            -1e30,
        ]);
        x.extend([
            below_half * scale,
            -below_half * scale,
            1.5 * scale,
            -2.5 * scale,
        ]);
        x.extend((0..200).map(|_| rng.uniform(-3.0, 3.0)));
        let mut want = vec![0u8; x.len()];
        r::quantize(&x, scale, zp, &mut want);
        assert_eq!(want[600 + 2], zp as u8, "NaN quantizes to the zero point");
        for t in kernel_tables() {
            for len in (0..17).chain([x.len()]) {
                let mut got = vec![0u8; len];
                (t.q8.quantize)(&x[..len], scale, zp, &mut got);
                assert_eq!(
                    got,
                    want[..len],
                    "{}: quantize scale {scale} zp {zp}",
                    t.isa
                );
            }
            let mut got = vec![0u8; x.len()];
            (t.q8.quantize)(&x, scale, zp, &mut got);
            assert_eq!(got, want, "{}: quantize scale {scale} zp {zp}", t.isa);
        }
    }
}

/// A dense 3×3 layer as im2col (in two row bands) + the uint8 GEMM equals the integer spec on
/// every table: the RGB stem and other input widths, outputs below, at and above a panel,
/// both paddings and strides, images smaller than the kernel, zero points that make padded
/// taps count.
#[test]
fn dense_3x3_as_im2col_and_gemm_matches_the_spec() {
    let mut rng = Rng::new(29);
    for (cin, cout) in [(3, 8), (3, 32), (1, 3), (8, 16), (13, 17)] {
        for (h, w) in [(2, 2), (5, 4), (11, 10), (8, 8)] {
            for (stride, pad) in [
                (2, Padding4::tf_same(h, w, 2)),
                (1, Padding4::symmetric(1)),
                (2, Padding4::symmetric(1)),
            ] {
                let g = geometry(h, w, stride, pad);
                let args = ConvArgs { geom: g, cin, cout };
                let (oh, ow) = (g.out_h(), g.out_w());
                // K = 9·Cin, or padded to a multiple of 4 with zero weight rows (as the int8
                // plan does), with 8-bit weights or 7-bit ones (the byte-pair GEMM's).
                for (padded, seven_bit) in [(false, false), (true, false), (true, true)] {
                    let x = bytes(&mut rng, h * w * cin);
                    let wt: Vec<i8> = if seven_bit {
                        (0..9 * cin * cout)
                            .map(|_| int(&mut rng, -63, 63) as i8)
                            .collect()
                    } else {
                        weights(&mut rng, 9 * cin * cout)
                    };
                    let wz = if cout % 2 == 1 && !seven_bit {
                        (0..cout).map(|_| int(&mut rng, -128, 127)).collect()
                    } else {
                        vec![0]
                    };
                    let bias: Vec<i32> =
                        (0..cout).map(|_| int(&mut rng, -20_000, 20_000)).collect();
                    let out = output_quant(&mut rng, cout, true, 1.0 / (cin as f64 * 3000.0));
                    let xz = int(&mut rng, 0, 255);
                    let mut want = vec![0u8; oh * ow * cout];
                    r::conv3x3(&args, &x, xz, &wt, &wz, &bias, &out, &mut want);
                    let k = if padded {
                        (9 * cin).next_multiple_of(4)
                    } else {
                        9 * cin
                    };
                    let mut wk = wt;
                    wk.resize(k * cout, 0);
                    let p = QPointwise::new(k, cout, wk, &wz, bias, xz, out);
                    assert_eq!(p.byte_pairs_exact, seven_bit, "K {k}");
                    let mut cols = vec![0u8; oh * ow * k];
                    let (top, bottom) = cols.split_at_mut(oh / 2 * ow * k);
                    r::im2col3x3(&args, &x, xz as u8, k, 0..oh / 2, top);
                    r::im2col3x3(&args, &x, xz as u8, k, oh / 2..oh, bottom);
                    for t in kernel_tables() {
                        let mut got = vec![0u8; oh * ow * cout];
                        (t.q8.pointwise)(&cols, &p, 0..p.panels(), &mut got);
                        assert_eq!(
                            got, want,
                            "{}: 3×3 {cin} → {cout} on {h}×{w} stride {stride} pad {pad:?}, K {k}",
                            t.isa
                        );
                    }
                }
            }
        }
    }
}

/// The fast im2col writes the reference's bytes: RGB and other input widths (runs below, at
/// and above its 16-byte block), K padded or not, both paddings and strides, images smaller
/// than the kernel, row bands that end where the block copy would spill past `cols`.
#[test]
fn fast_im2col_equals_the_reference() {
    let mut rng = Rng::new(31);
    for cin in [1, 2, 3, 5, 6, 8] {
        for (h, w) in [(2, 2), (3, 3), (5, 4), (11, 10), (17, 16), (32, 32)] {
            for (stride, pad) in [
                (2, Padding4::tf_same(h, w, 2)),
                (1, Padding4::symmetric(1)),
                (2, Padding4::symmetric(1)),
                (1, Padding4::symmetric(0)),
            ] {
                if h + pad.top + pad.bottom < 3 || w + pad.left + pad.right < 3 {
                    continue;
                }
                let g = geometry(h, w, stride, pad);
                let args = ConvArgs {
                    geom: g,
                    cin,
                    cout: 4,
                };
                let (oh, ow) = (g.out_h(), g.out_w());
                for k in [9 * cin, (9 * cin).next_multiple_of(4) + 4] {
                    let x = bytes(&mut rng, h * w * cin);
                    let xz = int(&mut rng, 0, 255) as u8;
                    for bands in [[0..oh, 0..0], [0..oh / 2, oh / 2..oh]] {
                        for band in bands {
                            let mut want = vec![0u8; band.len() * ow * k];
                            let mut got = vec![1u8; band.len() * ow * k];
                            r::im2col3x3(&args, &x, xz, k, band.clone(), &mut want);
                            qim2col::im2col3x3(&args, &x, xz, k, band.clone(), &mut got);
                            assert_eq!(
                                got, want,
                                "Cin {cin} on {h}×{w} stride {stride} pad {pad:?} K {k} rows {band:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Each table names the int8 GEMM it holds, and that is the fastest one the CPU can run:
/// VNNI on an AVX-512 CPU with it, else the AVX2 GEMM (never the reference on an x86-64 CPU
/// with AVX2).
#[test]
fn every_table_holds_the_best_int8_gemm_its_cpu_runs() {
    #[cfg(target_arch = "x86_64")]
    let (vnni, avx_vnni) = (
        is_x86_feature_detected!("avx512bw") && is_x86_feature_detected!("avx512vnni"),
        is_x86_feature_detected!("avxvnni"),
    );
    #[cfg(not(target_arch = "x86_64"))]
    let (vnni, avx_vnni) = (false, false);
    let avx2 = if avx_vnni { "avx2-vnni" } else { "avx2" };
    let tables = kernel_tables();
    for t in &tables {
        let want = match t.isa {
            mobilenet_kernels::Isa::Reference => "reference",
            mobilenet_kernels::Isa::Avx2 => avx2,
            mobilenet_kernels::Isa::Avx512 => {
                if vnni {
                    "avx512-vnni"
                } else {
                    avx2
                }
            }
        };
        let baseline = t.isa == mobilenet_kernels::Isa::Avx2 && t.q8.name == "avx2";
        assert!(t.q8.name == want || baseline, "{}: {}", t.isa, t.q8.name);
    }
    // With AVX-VNNI the AVX2 table is tested without it too.
    let avx2_tables = tables
        .iter()
        .filter(|t| t.isa == mobilenet_kernels::Isa::Avx2)
        .count();
    let runs_avx2 = tables.iter().any(|t| t.isa == mobilenet_kernels::Isa::Avx2);
    assert_eq!(avx2_tables, if avx_vnni { 2 } else { runs_avx2 as usize });
}
