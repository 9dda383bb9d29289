//! Bias + clamp epilogue and global average pooling, written once for any [`Simd`].
//! They match `reference::elementwise::bias_clamp` and `reference::pool::global_avg_pool`.

use super::simd::{Simd, VClamp};
use crate::geometry::Clamp;

/// y: (M, N) in place, b: (N). `y[i, j] = clamp(y[i, j] + b[j])`.
///
/// # Safety
/// Must run with `S`'s CPU features enabled. Lengths are checked here.
#[inline(always)]
pub(super) unsafe fn bias_clamp<S: Simd>(y: &mut [f32], b: &[f32], clamp: Clamp) {
    assert!(
        !b.is_empty() && y.len().is_multiple_of(b.len()),
        "bias_clamp: y len not a multiple of b len"
    );
    let n = b.len();
    let l = S::LANES;
    // SAFETY: caller guarantees S's features; every access is at column j < N of a row inside
    // `y` (the tail is masked).
    unsafe {
        let vc = VClamp::<S>::new(clamp);
        let tail = S::mask(n % l);
        let full = n - n % l;
        for row in y.chunks_exact_mut(n) {
            let yp = row.as_mut_ptr();
            let mut j = 0;
            while j < full {
                let v = S::add(S::load(yp.add(j)), S::load(b.as_ptr().add(j)));
                S::store(yp.add(j), vc.apply(v));
                j += l;
            }
            if j < n {
                let v = S::add(
                    S::load_m(yp.add(j), tail),
                    S::load_m(b.as_ptr().add(j), tail),
                );
                S::store_m(yp.add(j), tail, vc.apply(v));
            }
        }
    }
}

/// x: (HW, C), y: (C). `y[c] = mean_p x[p, c]`.
///
/// # Safety
/// Must run with `S`'s CPU features enabled. Lengths are checked here.
#[inline(always)]
pub(super) unsafe fn global_avg_pool<S: Simd>(x: &[f32], c: usize, y: &mut [f32]) {
    assert!(
        c > 0 && x.len().is_multiple_of(c) && !x.is_empty(),
        "global_avg_pool: x len"
    );
    assert_eq!(y.len(), c, "global_avg_pool: y len");
    let hw = x.len() / c;
    let l = S::LANES;
    // SAFETY: caller guarantees S's features; reads x[p·C + j], writes y[j] for j < C (masked tail).
    unsafe {
        let inv = S::splat(1.0 / hw as f32);
        let mut j = 0;
        while j < c {
            let m = S::mask((c - j).min(l));
            // Four partial sums over pixels break the add chain.
            let mut acc = [S::splat(0.0); 4];
            let mut p = 0;
            while p + 4 <= hw {
                for u in 0..4 {
                    acc[u] = S::add(acc[u], S::load_m(x.as_ptr().add((p + u) * c + j), m));
                }
                p += 4;
            }
            while p < hw {
                acc[0] = S::add(acc[0], S::load_m(x.as_ptr().add(p * c + j), m));
                p += 1;
            }
            let sum = S::add(S::add(acc[0], acc[1]), S::add(acc[2], acc[3]));
            S::store_m(y.as_mut_ptr().add(j), m, S::mul(sum, inv));
            j += l;
        }
    }
}
