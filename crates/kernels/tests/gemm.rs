//! `gemm::sgemm`, `gemm::sgemm_view` (strided column/row bands) and `parallel::pointwise`
//! against `reference::matmul`, and the whole-layer `parallel::*` entry points against the
//! reference kernels on a batch of 3 inside local rayon pools of 2 and 3 threads.

use mobilenet_kernels::gemm::{self, MatMut, MatRef};
use mobilenet_kernels::testing::{assert_close, assert_close_nhwc, kernel_tables, Rng, Tol};
use mobilenet_kernels::{
    parallel, reference, Clamp, Conv2dGeometry, ConvArgs, DwArgs, Kernels, Padding4,
};

fn matmul_ref(m: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut c = vec![0.0; m * n];
    reference::matmul::matmul(m, n, k, a, b, &mut c, false);
    c
}

#[test]
fn sgemm_shapes_and_accumulate() {
    for (m, k, n) in [
        (1, 1, 1),
        (1, 1024, 1001),
        (7, 3, 5),
        (49, 64, 33),
        (130, 32, 64),
        (17, 0, 4),
    ] {
        let mut rng = Rng::new((m * 31 + k * 7 + n) as u64);
        let a = rng.fill(m * k, -1.0, 1.0);
        let b = rng.fill(k * n, -1.0, 1.0);
        let want = matmul_ref(m, n, k, &a, &b);
        let mut c = vec![f32::NAN; m * n];
        gemm::sgemm(m, n, k, &a, &b, &mut c, false);
        assert_close(
            &format!("sgemm/m={m},k={k},n={n}"),
            &c,
            &want,
            Tol::forward(k),
        );
        // accumulate: c += a·b
        gemm::sgemm(m, n, k, &a, &b, &mut c, true);
        let twice: Vec<f32> = want.iter().map(|v| 2.0 * v).collect();
        assert_close(
            &format!("sgemm+=/m={m},k={k},n={n}"),
            &c,
            &twice,
            Tol::forward(2 * k.max(1)),
        );
    }
}

#[test]
fn sgemm_view_column_and_row_bands() {
    let (m, k, n) = (9, 20, 37);
    let mut rng = Rng::new(5);
    let a = rng.fill(m * k, -1.0, 1.0);
    let b = rng.fill(k * n, -1.0, 1.0);
    let want = matmul_ref(m, n, k, &a, &b);
    let mut c = vec![f32::NAN; m * n];
    let (top, bottom) = MatMut::new(&mut c, m, n).split_rows(4);
    let (tl, tr) = top.split_cols(13);
    let (bl, br) = bottom.split_cols(30);
    let (am, bm) = (MatRef::new(&a, m, k), MatRef::new(&b, k, n));
    gemm::sgemm_view(am.rows_range(0, 4), bm.cols_range(0, 13), tl, false);
    gemm::sgemm_view(am.rows_range(0, 4), bm.cols_range(13, n), tr, false);
    gemm::sgemm_view(am.rows_range(4, m), bm.cols_range(0, 30), bl, false);
    gemm::sgemm_view(am.rows_range(4, m), bm.cols_range(30, n), br, false);
    assert_close("sgemm_view/bands", &c, &want, Tol::forward(k));
}

fn pools() -> Vec<rayon::ThreadPool> {
    [1, 2, 3]
        .into_iter()
        .map(|t| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(t)
                .build()
                .unwrap()
        })
        .collect()
}

#[test]
fn parallel_pointwise_row_and_column_splits() {
    // Tall (row split), short-wide (column split, N not a multiple of the band), FC-like.
    for (m, k, n) in [
        (12544 / 4, 32, 64),
        (49, 256, 1001),
        (3, 1024, 1001),
        (200, 64, 40),
        (1, 3, 1),
    ] {
        let mut rng = Rng::new((m + k + n) as u64);
        let x = rng.fill(m * k, -1.0, 1.0);
        let w = rng.fill(k * n, -0.2, 0.2);
        let b = rng.fill(n, -1.0, 1.0);
        let mut want = matmul_ref(m, n, k, &x, &w);
        reference::elementwise::bias_clamp(&mut want, &b, Clamp::RELU6);
        for pool in pools() {
            for kern in kernel_tables() {
                let mut y = vec![f32::NAN; m * n];
                pool.install(|| {
                    parallel::pointwise(&kern, m, n, k, &x, &w, &b, Clamp::RELU6, &mut y)
                });
                assert_close(
                    &format!(
                        "parallel::pointwise/{}/threads={}/m={m},k={k},n={n}",
                        kern.isa,
                        pool.current_num_threads()
                    ),
                    &y,
                    &want,
                    Tol::forward(k),
                );
            }
        }
    }
}

#[test]
fn parallel_layers_batch3() {
    let batch = 3;
    let mut rng = Rng::new(11);
    // Depthwise 15×15×19 stride 2, TF padding; stem-like 3→20 stride 2; pool over 7×7×33.
    let dw = DwArgs {
        geom: Conv2dGeometry {
            in_h: 15,
            in_w: 15,
            stride: 2,
            pad: Padding4::tf_same(15, 15, 2),
        },
        c: 19,
    };
    let cv = ConvArgs {
        geom: Conv2dGeometry {
            in_h: 16,
            in_w: 13,
            stride: 2,
            pad: Padding4::tf_same(16, 13, 2),
        },
        cin: 3,
        cout: 20,
    };
    let (dx, dw_w, dw_b) = (
        rng.fill(batch * 15 * 15 * 19, -2.0, 2.0),
        rng.fill(9 * 19, -1.0, 1.0),
        rng.fill(19, -1.0, 1.0),
    );
    let (cx, cw, cb) = (
        rng.fill(batch * 16 * 13 * 3, -2.0, 2.0),
        rng.fill(27 * 20, -1.0, 1.0),
        rng.fill(20, -1.0, 1.0),
    );
    let px = rng.fill(batch * 49 * 33, -2.0, 2.0);

    let reference = Kernels::reference();
    let (doh, dow) = (dw.geom.out_h(), dw.geom.out_w());
    let (coh, cow) = (cv.geom.out_h(), cv.geom.out_w());
    let mut want_dw = vec![0.0; batch * doh * dow * 19];
    let mut want_cv = vec![0.0; batch * coh * cow * 20];
    let mut want_gap = vec![0.0; batch * 33];
    for i in 0..batch {
        reference::dwconv3x3::forward(
            &dw,
            &dx[i * 15 * 15 * 19..][..15 * 15 * 19],
            &dw_w,
            &dw_b,
            Clamp::RELU,
            0..doh,
            &mut want_dw[i * doh * dow * 19..][..doh * dow * 19],
        );
        reference::conv3x3::forward(
            &cv,
            &cx[i * 16 * 13 * 3..][..16 * 13 * 3],
            &cw,
            &cb,
            Clamp::RELU6,
            0..coh,
            &mut want_cv[i * coh * cow * 20..][..coh * cow * 20],
        );
        (reference.global_avg_pool)(
            &px[i * 49 * 33..][..49 * 33],
            33,
            &mut want_gap[i * 33..][..33],
        );
    }
    for pool in pools() {
        let t = pool.current_num_threads();
        for kern in kernel_tables() {
            let mut y = vec![f32::NAN; want_dw.len()];
            pool.install(|| {
                parallel::dwconv3x3(&kern, &dw, batch, &dx, &dw_w, &dw_b, Clamp::RELU, &mut y)
            });
            assert_close_nhwc(
                &format!("parallel::dwconv3x3/{}/threads={t}", kern.isa),
                &y,
                &want_dw,
                Tol::forward(9),
                [batch, doh, dow, 19],
            );

            let mut y = vec![f32::NAN; want_cv.len()];
            pool.install(|| {
                parallel::conv3x3(&kern, &cv, batch, &cx, &cw, &cb, Clamp::RELU6, &mut y)
            });
            assert_close_nhwc(
                &format!("parallel::conv3x3/{}/threads={t}", kern.isa),
                &y,
                &want_cv,
                Tol::forward(27),
                [batch, coh, cow, 20],
            );

            let mut y = vec![f32::NAN; want_gap.len()];
            pool.install(|| parallel::global_avg_pool(&kern, batch, 33, &px, &mut y));
            assert_close(
                &format!("parallel::global_avg_pool/{}/threads={t}", kern.isa),
                &y,
                &want_gap,
                Tol::forward(49),
            );
        }
    }
}
