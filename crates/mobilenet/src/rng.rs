//! A small, seedable, serializable random number generator for everything that training
//! randomizes: weight initialisation, the epoch's shuffle, and each sample's augmentation.
//!
//! SplitMix64 (Steele, Lea & Flood 2014): one `u64` of state, so a generator is saved in a
//! checkpoint as one number and resumed exactly. Independent streams come from [`Rng::stream`],
//! which hashes a seed with stream keys (e.g. `(epoch, sample index)`): a sample's augmentation
//! then depends only on the seed, the epoch and the sample, not on which thread prepared it or
//! in what order, so every run with the same seed sees the same batches.

/// SplitMix64 generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rng {
    state: u64,
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng {
            state: mix(seed ^ 0x5EED_5EED_5EED_5EED),
        }
    }

    /// A generator for the stream named by `keys` under `seed` (e.g. `[epoch, sample]`).
    pub fn stream(seed: u64, keys: &[u64]) -> Rng {
        let mut s = mix(seed.wrapping_add(GOLDEN));
        for &k in keys {
            s = mix(s ^ mix(k.wrapping_add(GOLDEN)));
        }
        Rng { state: s }
    }

    /// The state, to store in a checkpoint; [`Rng::from_state`] resumes it.
    pub fn state(&self) -> u64 {
        self.state
    }

    pub fn from_state(state: u64) -> Rng {
        Rng { state }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(GOLDEN);
        mix(self.state)
    }

    /// Uniform in [0, 1) with 24 bits of precision.
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 * (1.0 / (1u64 << 24) as f32)
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    pub fn uniform_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform integer in `0..n` (`n > 0`), without modulo bias worth caring about (Lemire's
    /// multiply-shift on 64 bits).
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below(0)");
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform_f64(); // (0, 1]
        let u2 = self.uniform_f64();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// Coin flip with probability 1/2.
    pub fn flip(&mut self) -> bool {
        self.next_u64() >> 63 == 1
    }

    /// Fisher–Yates shuffle of `0..n`.
    pub fn permutation(&mut self, n: usize) -> Vec<usize> {
        let mut p: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            let j = self.below(i + 1);
            p.swap(i, j);
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_state_resumes() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut c = Rng::from_state(a.state());
        assert_eq!(a.next_u64(), c.next_u64());
        assert_ne!(Rng::new(7).next_u64(), Rng::new(8).next_u64());
    }

    #[test]
    fn streams_differ_by_key() {
        let x = Rng::stream(1, &[0, 5]).next_u64();
        assert_eq!(x, Rng::stream(1, &[0, 5]).next_u64());
        assert_ne!(x, Rng::stream(1, &[5, 0]).next_u64());
        assert_ne!(x, Rng::stream(2, &[0, 5]).next_u64());
    }

    #[test]
    fn ranges_and_moments() {
        let mut r = Rng::new(3);
        let n = 20000;
        let (mut s, mut s2) = (0.0, 0.0);
        for _ in 0..n {
            let u = r.uniform();
            assert!((0.0..1.0).contains(&u));
            assert!(r.below(10) < 10);
            let z = r.normal();
            s += z;
            s2 += z * z;
        }
        let mean = s / n as f64;
        let var = s2 / n as f64 - mean * mean;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((var - 1.0).abs() < 0.05, "var {var}");
        let mut p = r.permutation(100);
        p.sort_unstable();
        assert_eq!(p, (0..100).collect::<Vec<_>>());
    }
}
