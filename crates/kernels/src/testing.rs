//! Test helpers shared by every crate's tests (feature `testing`): the one tolerance rule and
//! seeded random fills.

/// `|got - want| <= abs + rel·|want|`.
#[derive(Debug, Clone, Copy)]
pub struct Tol {
    pub abs: f32,
    pub rel: f32,
}

impl Tol {
    /// Forward-kernel default for a reduction of length `k`.
    pub fn forward(k: usize) -> Tol {
        Tol {
            abs: 1e-6 * k as f32,
            rel: 1e-5,
        }
    }
}

/// Panics with the first few mismatches (index and values) if `got` and `want` differ beyond `tol`.
#[track_caller]
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: Tol) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut bad = Vec::new();
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let ok = (g - w).abs() <= tol.abs + tol.rel * w.abs() || (g.is_nan() && w.is_nan());
        if !ok {
            bad.push(format!("  [{i}] got {g} want {w}"));
            if bad.len() >= 10 {
                break;
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: {} mismatches (tol {tol:?}):\n{}",
        bad.len(),
        bad.join("\n")
    );
}

/// A small, fast, seeded generator (xorshift64*), so fixtures do not depend on a crate's stream.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let u = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * u
    }

    pub fn fill(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}
