//! `Kernels::pointwise_packed` of every ISA this CPU runs against `reference::matmul` (+ bias +
//! clamp) on unpacked weights and against `reference::pointwise::pointwise_packed`, on shapes
//! around the tile sizes (MR = 14 on AVX-512, 6 on AVX2; NR = 32 columns per panel), panel
//! sub-ranges, and `parallel::pointwise_packed` in pools of 1, 2 and 3 threads.

use mobilenet_kernels::gemm::MatMut;
use mobilenet_kernels::packed::NR;
use mobilenet_kernels::testing::{assert_close, kernel_tables, Rng, Tol};
use mobilenet_kernels::{pack_weights, parallel, reference, Clamp};

const CLAMPS: [(&str, Clamp); 3] = [
    ("none", Clamp::NONE),
    ("relu", Clamp::RELU),
    ("relu6", Clamp::RELU6),
];

/// `clamp(x · w + b)` from the plain matmul on unpacked `w`.
fn want(m: usize, k: usize, n: usize, x: &[f32], w: &[f32], b: &[f32], clamp: Clamp) -> Vec<f32> {
    let mut y = vec![0.0; m * n];
    reference::matmul::matmul(m, n, k, x, w, &mut y, false);
    for row in y.chunks_mut(n.max(1)) {
        for (v, bj) in row.iter_mut().zip(b) {
            *v = clamp.apply(*v + bj);
        }
    }
    y
}

/// Fixture: x in [-1, 1), w in [-1, 1), b in [-2, 2) so every clamp bound is hit.
fn fixture(m: usize, k: usize, n: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new((m * 1_000_003 + k * 1009 + n) as u64);
    (
        rng.fill(m * k, -1.0, 1.0),
        rng.fill(k * n, -1.0, 1.0),
        rng.fill(n, -2.0, 2.0),
    )
}

#[test]
fn pointwise_packed_edge_shapes() {
    let ms = [1, 5, 6, 7, 13, 14, 15, 29, 49, 196];
    let ks = [1, 3, 8, 32, 33, 1024];
    let ns = [1, 8, 15, 16, 17, 31, 32, 33, 64, 1001];
    for kern in kernel_tables() {
        for &m in &ms {
            for &k in &ks {
                for &n in &ns {
                    // Keep the f64 reference cheap: the big corner only on a few shapes.
                    if m * k * n > 20_000_000 {
                        continue;
                    }
                    let (x, w, b) = fixture(m, k, n);
                    let pw = pack_weights(k, n, &w);
                    for (cname, clamp) in CLAMPS {
                        let want = want(m, k, n, &x, &w, &b, clamp);
                        let mut y = vec![f32::NAN; m * n];
                        (kern.pointwise_packed)(
                            &x,
                            &pw,
                            &b,
                            clamp,
                            0..pw.panels(),
                            MatMut::new(&mut y, m, n),
                        );
                        assert_close(
                            &format!("pointwise_packed/{}/m={m},k={k},n={n},{cname}", kern.isa),
                            &y,
                            &want,
                            Tol::forward(k),
                        );
                    }
                }
            }
        }
    }
}

/// Pairs of panels run as one wide tile (AVX-512: 6 × 64), a last odd panel as a narrow one:
/// panel counts 2..=5 with every column tail (inside either panel of a pair, exact pairs, odd
/// panel), and rows around the wide tile's height (1..=13, 18, 19).
#[test]
fn pointwise_packed_panel_pairs() {
    let ns = [33, 47, 63, 64, 65, 80, 95, 96, 97, 127, 128, 129, 150];
    for kern in kernel_tables() {
        for m in (1..=13).chain([18, 19]) {
            for k in [1, 2, 7, 64] {
                for n in ns {
                    let (x, w, b) = fixture(m, k, n);
                    let pw = pack_weights(k, n, &w);
                    let want = want(m, k, n, &x, &w, &b, Clamp::RELU6);
                    let mut y = vec![f32::NAN; m * n];
                    (kern.pointwise_packed)(
                        &x,
                        &pw,
                        &b,
                        Clamp::RELU6,
                        0..pw.panels(),
                        MatMut::new(&mut y, m, n),
                    );
                    assert_close(
                        &format!("pointwise_packed/{}/pairs,m={m},k={k},n={n}", kern.isa),
                        &y,
                        &want,
                        Tol::forward(k),
                    );
                }
            }
        }
    }
}

#[test]
fn pointwise_packed_k_zero_is_bias() {
    for kern in kernel_tables() {
        let (m, n) = (3, 40);
        let b: Vec<f32> = (0..n).map(|j| j as f32 - 20.0).collect();
        let pw = pack_weights(0, n, &[]);
        let mut y = vec![f32::NAN; m * n];
        (kern.pointwise_packed)(
            &[],
            &pw,
            &b,
            Clamp::RELU6,
            0..pw.panels(),
            MatMut::new(&mut y, m, n),
        );
        let want: Vec<f32> = (0..m * n).map(|i| Clamp::RELU6.apply(b[i % n])).collect();
        assert_close(
            &format!("pointwise_packed/{}/k=0", kern.isa),
            &y,
            &want,
            Tol::forward(1),
        );
    }
}

/// Panel sub-ranges write exactly their columns of a strided view (the column split).
#[test]
fn pointwise_packed_panel_ranges() {
    let (m, k, n) = (20, 37, 3 * NR + 5);
    let (x, w, b) = fixture(m, k, n);
    let pw = pack_weights(k, n, &w);
    let want = want(m, k, n, &x, &w, &b, Clamp::RELU);
    for kern in kernel_tables() {
        for split in [1, 2, 3] {
            let mut y = vec![f32::NAN; m * n];
            let (left, right) = MatMut::new(&mut y, m, n).split_cols(pw.cols(0..split).len());
            (kern.pointwise_packed)(&x, &pw, &b, Clamp::RELU, 0..split, left);
            (kern.pointwise_packed)(&x, &pw, &b, Clamp::RELU, split..pw.panels(), right);
            assert_close(
                &format!("pointwise_packed/{}/panels=0..{split}..", kern.isa),
                &y,
                &want,
                Tol::forward(k),
            );
        }
    }
}

/// The layer entry point splits by rows (tall) and by panels (short, wide) in pools of 1, 2, 3.
#[test]
fn parallel_pointwise_packed_pools() {
    for kern in kernel_tables() {
        for (m, k, n) in [
            (300, 64, 96),
            (196, 256, 512),
            (49, 512, 1001),
            (3, 1024, 1001),
            (130, 33, 17),
        ] {
            let (x, w, b) = fixture(m, k, n);
            let pw = pack_weights(k, n, &w);
            let want = want(m, k, n, &x, &w, &b, Clamp::RELU6);
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .build()
                    .unwrap();
                let mut y = vec![f32::NAN; m * n];
                pool.install(|| {
                    parallel::pointwise_packed(&kern, m, &x, &pw, &b, Clamp::RELU6, &mut y)
                });
                assert_close(
                    &format!(
                        "parallel::pointwise_packed/{}/m={m},k={k},n={n},threads={threads}",
                        kern.isa
                    ),
                    &y,
                    &want,
                    Tol::forward(k),
                );
            }
        }
    }
}
