//! `bias_clamp` and `global_avg_pool` on every available ISA against the reference, with
//! widths around the lane count, misaligned slices and each clamp.

use mobilenet_kernels::reference;
use mobilenet_kernels::testing::{assert_close, kernel_tables, offset_by_one, Rng, Tol};
use mobilenet_kernels::Clamp;

#[test]
fn bias_clamp_widths_and_clamps() {
    for k in kernel_tables() {
        let l = k.isa.lanes().max(8);
        for n in [1, l - 1, l, l + 1, 2 * l + 3, 32, 1001, 1024] {
            for (i, clamp) in [Clamp::NONE, Clamp::RELU, Clamp::RELU6]
                .into_iter()
                .enumerate()
            {
                let m = [1, 3, 7][i];
                let mut rng = Rng::new((n * 3 + m) as u64);
                let y0 = rng.fill(m * n, -8.0, 8.0);
                let b = rng.fill(n, -1.0, 1.0);
                let mut want = y0.clone();
                reference::elementwise::bias_clamp(&mut want, &b, clamp);
                // Misaligned on every other case.
                let (mut y, off) = if i % 2 == 1 {
                    (offset_by_one(&y0), 1)
                } else {
                    (y0.clone(), 0)
                };
                let bs = offset_by_one(&b);
                let end = off + m * n;
                (k.bias_clamp)(&mut y[off..end], &bs[1..], clamp);
                assert_close(
                    &format!("bias_clamp/{}/n={n},m={m}", k.isa),
                    &y[off..end],
                    &want,
                    Tol::forward(1),
                );
            }
        }
    }
}

#[test]
fn global_avg_pool_sizes() {
    for k in kernel_tables() {
        let l = k.isa.lanes().max(8);
        for c in [1, l - 1, l, l + 1, 2 * l + 3, 32, 1024] {
            for hw in [1, 2, 3, 4, 5, 49, 50] {
                let mut rng = Rng::new((c * 7 + hw) as u64);
                let x = rng.fill(hw * c, -4.0, 4.0);
                let mut want = vec![0.0; c];
                reference::pool::global_avg_pool(&x, c, &mut want);
                let xs = offset_by_one(&x);
                let mut y = vec![f32::NAN; c];
                (k.global_avg_pool)(&xs[1..], c, &mut y);
                assert_close(
                    &format!("global_avg_pool/{}/c={c},hw={hw}", k.isa),
                    &y,
                    &want,
                    Tol::forward(hw),
                );
            }
        }
    }
}
