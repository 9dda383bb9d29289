//! BatchNorm training kernels on every available ISA against `reference::batch_norm`:
//! channel counts around the lane widths, row counts around the f32 flush block, misaligned
//! slices, each clamp, gradients on the clamp's bounds; f32 accumulation on values with a
//! large mean; the `parallel::train` BatchNorm passes against the reference table and
//! bit-identical across thread counts.
//!
//! `scale_shift_clamp` and `act_backward_apply` use the reference's operations in its order, so
//! they must match it bit for bit; the sums are compared at `1e-5 · Σ|terms|`.

use mobilenet_kernels::parallel::train;
use mobilenet_kernels::reference::batch_norm::{self as bn, BnBackward, BnStats};
use mobilenet_kernels::testing::{kernel_tables, offset_by_one, Rng};
use mobilenet_kernels::{Clamp, Kernels};

const CHANNELS: [usize; 13] = [1, 3, 7, 8, 9, 15, 16, 17, 33, 64, 100, 128, 260];
/// Around the kernels' 256-row f32 flush block.
const ROWS: [usize; 5] = [1, 5, 255, 257, 600];
const CLAMPS: [Clamp; 3] = [Clamp::NONE, Clamp::RELU, Clamp::RELU6];

/// `v` as stored one element past its allocation (when `unaligned`).
fn place(v: &[f32], unaligned: bool) -> Vec<f32> {
    if unaligned {
        offset_by_one(v)
    } else {
        v.to_vec()
    }
}

fn view(v: &[f32], unaligned: bool) -> &[f32] {
    if unaligned {
        &v[1..]
    } else {
        v
    }
}

#[track_caller]
fn assert_sums(what: &str, got: &[f64], want: &[f64], mag: &[f64]) {
    for (i, ((&g, &w), &m)) in got.iter().zip(want).zip(mag).enumerate() {
        assert!(
            (g - w).abs() <= 1e-5 * m + 1e-30,
            "{what}: [{i}] got {g} want {w} (Σ|terms| {m})"
        );
    }
}

#[track_caller]
fn assert_bits(what: &str, got: &[f32], want: &[f32]) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.to_bits() == w.to_bits(),
            "{what}: [{i}] got {g} want {w} (not bit-identical)"
        );
    }
}

/// BatchNorm inputs over (M, C) whose clamp inputs `z·scale + shift` ([`BwdCase::new`]) fall
/// exactly on 0 and 6 now and then (where the gradient stops), and on both sides of them.
fn bn_inputs(rng: &mut Rng, m: usize, c: usize) -> Vec<f32> {
    (0..m * c)
        .map(|i| match (i % c % 3, i % 7) {
            // Channels with scale 1, shift 0: z is the clamp's input.
            (0, 0) => 0.0,
            (0, 1) => 6.0,
            _ => rng.uniform(-5.0, 7.0),
        })
        .collect()
}

#[test]
fn bn_sums_match_reference() {
    for k in kernel_tables() {
        for c in CHANNELS {
            for m in ROWS {
                for unaligned in [false, true] {
                    let mut rng = Rng::new((c * 1000 + m) as u64);
                    let x = rng.fill(m * c, -3.0, 5.0);
                    let shift = rng.fill(c, 0.0, 2.0);
                    let init = rng.fill(2 * c, -1.0, 1.0);
                    let init: Vec<f64> = init.iter().map(|&v| v as f64).collect();
                    let (mut ws, mut wq) = (init[..c].to_vec(), init[c..].to_vec());
                    bn::sums(&x, &shift, &mut ws, &mut wq);
                    // Σ|terms|: the reference on |x − shift| with zero shift, plus |init|.
                    let ad: Vec<f32> = (0..m * c).map(|i| (x[i] - shift[i % c]).abs()).collect();
                    let (mut ms, mut mq) = (vec![0.0; c], vec![0.0; c]);
                    bn::sums(&ad, &vec![0.0; c], &mut ms, &mut mq);
                    for ch in 0..c {
                        ms[ch] += init[ch].abs();
                        mq[ch] += init[c + ch].abs();
                    }
                    let (xs, ss) = (place(&x, unaligned), place(&shift, unaligned));
                    let (mut gs, mut gq) = (init[..c].to_vec(), init[c..].to_vec());
                    (k.bn_sums)(view(&xs, unaligned), view(&ss, unaligned), &mut gs, &mut gq);
                    let what = format!("bn_sums/{}/c={c},m={m},unaligned={unaligned}", k.isa);
                    assert_sums(&format!("{what}/sum"), &gs, &ws, &ms);
                    assert_sums(&format!("{what}/sumsq"), &gq, &wq, &mq);
                }
            }
        }
    }
}

/// Variance from one call's sums (as `parallel::train::bn_sums` chunks them: 32768 elements)
/// on values with a large mean, vs the exact two-pass variance. With the shift near the mean
/// (the running mean), and with a zero shift at a moderate mean (the first step), f32
/// accumulation inside a call stays accurate.
#[test]
fn bn_sums_f32_accumulation_large_mean() {
    for k in kernel_tables() {
        for (c, mean, shift, tol) in [
            (32, 1000.0f32, 999.3f32, 1e-5),
            (16, 100.0, 98.0, 1e-5),
            (256, 1000.0, 1001.0, 1e-5),
            (32, 10.0, 0.0, 1e-3),
            (8, 3.0, 0.0, 1e-4),
        ] {
            let m = (1 << 15) / c;
            let mut rng = Rng::new(c as u64 + mean as u64);
            let x: Vec<f32> = (0..m * c)
                .map(|_| mean + rng.uniform(-1.7, 1.7) + rng.uniform(-1.7, 1.7))
                .collect();
            let shift = vec![shift; c];
            let (mut s, mut q) = (vec![0.0; c], vec![0.0; c]);
            (k.bn_sums)(&x, &shift, &mut s, &mut q);
            for ch in 0..c {
                let col: Vec<f64> = (0..m).map(|i| x[i * c + ch] as f64).collect();
                let mu = col.iter().sum::<f64>() / m as f64;
                let var = col.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / m as f64;
                let (ms, mq) = (s[ch] / m as f64, q[ch] / m as f64);
                let got_mu = shift[ch] as f64 + ms;
                let got_var = mq - ms * ms;
                let what = format!(
                    "bn_sums large mean/{}/c={c},mean={mean},shift={}",
                    k.isa, shift[0]
                );
                assert!(
                    (got_mu - mu).abs() <= 1e-6 * mu.abs(),
                    "{what}: mean {got_mu} vs {mu}"
                );
                assert!(
                    (got_var - var).abs() <= tol * var,
                    "{what}: [{ch}] variance {got_var} vs {var}"
                );
            }
        }
    }
}

#[test]
fn scale_shift_clamp_bit_identical_to_reference() {
    for k in kernel_tables() {
        for c in CHANNELS {
            for m in [1, 3, 40] {
                for clamp in CLAMPS {
                    for unaligned in [false, true] {
                        let mut rng = Rng::new((c * 31 + m) as u64);
                        let x = rng.fill(m * c, -8.0, 8.0);
                        let scale = rng.fill(c, -2.0, 2.0);
                        let shift = rng.fill(c, -1.0, 1.0);
                        let mut want = vec![0.0; m * c];
                        bn::scale_shift_clamp(&x, &scale, &shift, clamp, &mut want);
                        let (xs, sc, sh) = (
                            place(&x, unaligned),
                            place(&scale, unaligned),
                            place(&shift, unaligned),
                        );
                        let mut out = vec![f32::NAN; m * c + 2];
                        (k.scale_shift_clamp)(
                            view(&xs, unaligned),
                            view(&sc, unaligned),
                            view(&sh, unaligned),
                            clamp,
                            &mut out[1..m * c + 1],
                        );
                        let what = format!("scale_shift_clamp/{}/c={c},m={m},{clamp:?}", k.isa);
                        assert_bits(&what, &out[1..m * c + 1], &want);
                        assert!(
                            out[0].is_nan() && out[m * c + 1].is_nan(),
                            "{what}: wrote outside y"
                        );
                    }
                }
            }
        }
    }
}

struct BwdCase {
    da: Vec<f32>,
    z: Vec<f32>,
    mean: Vec<f32>,
    rstd: Vec<f32>,
    scale: Vec<f32>,
    shift: Vec<f32>,
    k: Vec<f32>,
    mb: Vec<f32>,
    mg: Vec<f32>,
}

impl BwdCase {
    fn new(c: usize, m: usize, seed: u64) -> BwdCase {
        let mut rng = Rng::new(seed);
        let da = rng.fill(m * c, -1.0, 1.0);
        let z = bn_inputs(&mut rng, m, c);
        let mut scale = rng.fill(c, 0.3, 1.5);
        let mut shift = rng.fill(c, -1.0, 1.0);
        for ch in (0..c).step_by(3) {
            (scale[ch], shift[ch]) = (1.0, 0.0);
        }
        BwdCase {
            da,
            z,
            scale,
            shift,
            mean: rng.fill(c, -1.0, 2.0),
            rstd: rng.fill(c, 0.2, 3.0),
            k: rng.fill(c, -2.0, 2.0),
            mb: rng.fill(c, -0.5, 0.5),
            mg: rng.fill(c, -0.5, 0.5),
        }
    }

    fn stats(&self) -> BnStats<'_> {
        BnStats {
            mean: &self.mean,
            rstd: &self.rstd,
            scale: &self.scale,
            shift: &self.shift,
        }
    }
}

#[test]
fn act_backward_sums_match_reference() {
    for k in kernel_tables() {
        for c in CHANNELS {
            for m in ROWS {
                for clamp in CLAMPS {
                    let t = BwdCase::new(c, m, (c * 17 + m) as u64);
                    let init: Vec<f64> = (0..2 * c).map(|i| i as f64 * 0.25 - 1.0).collect();
                    let (mut wb, mut wg) = (init[..c].to_vec(), init[c..].to_vec());
                    bn::act_backward_sums(&t.da, &t.z, t.stats(), clamp, &mut wb, &mut wg);
                    // Σ|terms|: |da| and |da·x̂| over every row (a bound on the gated sums).
                    let (mut mb, mut mg) = (vec![0.0f64; c], vec![0.0f64; c]);
                    for i in 0..m * c {
                        let ch = i % c;
                        let xhat = (t.z[i] - t.mean[ch]) * t.rstd[ch];
                        mb[ch] += (t.da[i] as f64).abs();
                        mg[ch] += (t.da[i] as f64 * xhat as f64).abs();
                    }
                    for ch in 0..c {
                        mb[ch] += init[ch].abs();
                        mg[ch] += init[c + ch].abs();
                    }
                    let (mut gb, mut gg) = (init[..c].to_vec(), init[c..].to_vec());
                    let (da, z) = (offset_by_one(&t.da), offset_by_one(&t.z));
                    (k.bn_act_backward_sums)(&da[1..], &z[1..], t.stats(), clamp, &mut gb, &mut gg);
                    let what = format!("act_backward_sums/{}/c={c},m={m},{clamp:?}", k.isa);
                    assert_sums(&format!("{what}/dbeta"), &gb, &wb, &mb);
                    assert_sums(&format!("{what}/dgamma"), &gg, &wg, &mg);
                }
            }
        }
    }
}

#[test]
fn act_backward_apply_bit_identical_to_reference() {
    for k in kernel_tables() {
        for c in CHANNELS {
            for m in [1, 3, 40] {
                for clamp in CLAMPS {
                    for unaligned in [false, true] {
                        let t = BwdCase::new(c, m, (c * 7 + m) as u64);
                        let coef = BnBackward {
                            k: &t.k,
                            mb: &t.mb,
                            mg: &t.mg,
                        };
                        let mut want = t.da.clone();
                        bn::act_backward_apply(&mut want, &t.z, t.stats(), coef, clamp);
                        let z = place(&t.z, unaligned);
                        let mut d = vec![f32::NAN; m * c + 2];
                        d[1..m * c + 1].copy_from_slice(&t.da);
                        (k.bn_act_backward_apply)(
                            &mut d[1..m * c + 1],
                            view(&z, unaligned),
                            t.stats(),
                            coef,
                            clamp,
                        );
                        let what = format!("act_backward_apply/{}/c={c},m={m},{clamp:?}", k.isa);
                        assert_bits(&what, &d[1..m * c + 1], &want);
                        assert!(
                            d[0].is_nan() && d[m * c + 1].is_nan(),
                            "{what}: wrote outside d"
                        );
                    }
                }
            }
        }
    }
}

/// A NaN BatchNorm input stops the gradient (`lo < z·scale + shift < hi` is false) and adds
/// nothing to the sums, as in the reference.
#[test]
fn act_backward_nan_input_blocks_gradient() {
    for k in kernel_tables() {
        let c = 19;
        let mut t = BwdCase::new(c, 4, 5);
        for i in (0..4 * c).step_by(3) {
            t.z[i] = f32::NAN;
        }
        let (mut wb, mut wg) = (vec![0.0; c], vec![0.0; c]);
        bn::act_backward_sums(&t.da, &t.z, t.stats(), Clamp::RELU6, &mut wb, &mut wg);
        let (mut gb, mut gg) = (vec![0.0; c], vec![0.0; c]);
        (k.bn_act_backward_sums)(&t.da, &t.z, t.stats(), Clamp::RELU6, &mut gb, &mut gg);
        assert!(
            gb.iter().chain(&gg).all(|v| v.is_finite()),
            "{}: NaN leaked",
            k.isa
        );
        assert_sums(&format!("nan/{}", k.isa), &gb, &wb, &vec![10.0; c]);
    }
}

fn run_threads<T: Send>(t: usize, f: impl Fn() -> T + Sync + Send) -> T {
    rayon::ThreadPoolBuilder::new()
        .num_threads(t)
        .build()
        .unwrap()
        .install(f)
}

/// The whole-batch passes: `bn_sums`, `scale_shift_clamp`, `bn_act_backward` on (M, C) with
/// several chunks (M·C > 32768), against the same passes on the reference table, and
/// bit-identical for 1, 2 and 3 threads.
#[test]
fn parallel_batch_norm_matches_reference_and_is_deterministic() {
    let reference = Kernels::reference();
    for k in kernel_tables() {
        for (m, c) in [
            (4096, 32),
            (1000, 64),
            (130, 512),
            (7, 3),
            (2 * 2 * 128, 1024),
        ] {
            let t = BwdCase::new(c, m, (m + c) as u64);
            let gamma: Vec<f32> = t.k.clone();
            let shift = t.mean.clone();
            let run = |kt: &Kernels| {
                let mut ws = train::Workspace::default();
                let (mut s, mut q) = (vec![0.0; c], vec![0.0; c]);
                train::bn_sums(kt, &t.z, &shift, &mut s, &mut q, &mut ws);
                let mut y = vec![0.0; m * c];
                train::scale_shift_clamp(kt, &t.z, &t.rstd, &t.mean, Clamp::RELU6, &mut y);
                let mut d = t.da.clone();
                let (mut dg, mut db) = (vec![0.0; c], vec![0.0; c]);
                train::bn_act_backward(
                    kt,
                    &mut d,
                    &t.z,
                    t.stats(),
                    &gamma,
                    Clamp::RELU6,
                    &mut dg,
                    &mut db,
                    &mut ws,
                );
                (s, q, y, d, dg, db)
            };
            let what = format!("parallel batch_norm/{}/m={m},c={c}", k.isa);
            let one = run_threads(1, || run(&k));
            for threads in [2, 3] {
                let other = run_threads(threads, || run(&k));
                let same = one.0 == other.0
                    && one.1 == other.1
                    && one
                        .2
                        .iter()
                        .zip(&other.2)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                    && one
                        .3
                        .iter()
                        .zip(&other.3)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                    && one
                        .4
                        .iter()
                        .zip(&other.4)
                        .all(|(a, b)| a.to_bits() == b.to_bits())
                    && one
                        .5
                        .iter()
                        .zip(&other.5)
                        .all(|(a, b)| a.to_bits() == b.to_bits());
                assert!(same, "{what}: {threads} threads differ from 1");
            }
            let want = run_threads(2, || run(&reference));
            // Sums: Σ|x − shift| bounds each (rows × O(1) values).
            let mag_s: Vec<f64> = (0..c)
                .map(|ch| {
                    (0..m)
                        .map(|i| (t.z[i * c + ch] - shift[ch]).abs() as f64)
                        .sum()
                })
                .collect();
            let mag_q: Vec<f64> = (0..c)
                .map(|ch| {
                    (0..m)
                        .map(|i| ((t.z[i * c + ch] - shift[ch]) as f64).powi(2))
                        .sum()
                })
                .collect();
            assert_sums(&format!("{what}/sum"), &one.0, &want.0, &mag_s);
            assert_sums(&format!("{what}/sumsq"), &one.1, &want.1, &mag_q);
            assert_bits(&format!("{what}/y"), &one.2, &want.2);
            // dβ, dγ are rounded to f32 from sums of ≤ m terms of magnitude ≤ ~7.
            for ch in 0..c {
                let tol = 1e-5 * m as f32 * 7.0;
                assert!(
                    (one.4[ch] - want.4[ch]).abs() <= tol,
                    "{what}: dgamma[{ch}]"
                );
                assert!((one.5[ch] - want.5[ch]).abs() <= tol, "{what}: dbeta[{ch}]");
            }
            // dz depends on dβ/M, dγ/M: compare with a tolerance scaled by its terms.
            for i in 0..m * c {
                let ch = i % c;
                let xhat = ((t.z[i] - t.mean[ch]) * t.rstd[ch]).abs();
                let mag = gamma[ch].abs() * t.rstd[ch] * (t.da[i].abs() + 8.0 * (1.0 + xhat));
                assert!(
                    (one.3[i] - want.3[i]).abs() <= 1e-5 * mag,
                    "{what}: dz[{i}] {} vs {}",
                    one.3[i],
                    want.3[i]
                );
            }
        }
    }
}
