//! Quantization parameters and TFLite's fixed-point requantization, the arithmetic every uint8
//! kernel shares (reference and optimized alike).
//!
//! Conventions of the quantized kernels (XNNPACK's "qu8 activations, qs8 weights" config):
//! - activations are `u8` with an affine zero point `0..=255`: the real value is
//!   `scale·(q − zp)`. TFLite int8 activations map onto this exactly by `q + 128`;
//! - weights are `i8` with a zero point per output channel (or one for all) in `-128..=127`:
//!   Google's uint8 weights `w` with zero point `z` are stored as `w − 128` with zero point
//!   `z − 128`, which changes no product `(w − z)`;
//! - accumulators are `i32`: `acc = Σ (x − x_zp)(w − w_zp) + bias`, with padded input taps
//!   contributing nothing (as if they held `x_zp`);
//! - requantization is TFLite's `MultiplyByQuantizedMultiplier` (gemmlowp's doubling high
//!   multiply, then a rounding right shift), then `+ y_zp` and a clamp to the fused
//!   activation's range.

/// `real ≈ multiplier · 2^shift / 2^31`, as TFLite's `QuantizeMultiplier` computes it:
/// `multiplier ∈ [2^30, 2^31)` (or 0), `shift` the binary exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant {
    pub multiplier: i32,
    pub shift: i32,
}

impl Requant {
    /// TFLite's `QuantizeMultiplier(double)`: `frexp`, then round the mantissa to Q31.
    /// Non-positive, NaN or tiny factors give the zero multiplier.
    pub fn from_real(real: f64) -> Requant {
        if real.is_nan() || real <= 0.0 || !real.is_finite() {
            return Requant {
                multiplier: 0,
                shift: 0,
            };
        }
        let (mantissa, mut shift) = frexp(real);
        let mut q = (mantissa * (1i64 << 31) as f64).round() as i64;
        if q == 1i64 << 31 {
            q /= 2;
            shift += 1;
        }
        if shift < -31 {
            return Requant {
                multiplier: 0,
                shift: 0,
            };
        }
        // A factor ≥ 2^31 cannot be a convolution's; saturate rather than wrap.
        let shift = shift.min(30);
        Requant {
            multiplier: q as i32,
            shift,
        }
    }

    /// TFLite's `MultiplyByQuantizedMultiplier(x, multiplier, shift)` (double rounding).
    #[inline]
    pub fn apply(self, x: i32) -> i32 {
        let left = self.shift.max(0);
        let right = (-self.shift).max(0);
        rounding_divide_by_pot(
            saturating_rounding_doubling_high_mul(x.wrapping_shl(left as u32), self.multiplier),
            right,
        )
    }
}

/// `(m, e)` with `x = m·2^e`, `m ∈ [0.5, 1)`, for finite positive `x`.
fn frexp(x: f64) -> (f64, i32) {
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32;
    if exp == 0 {
        // Subnormal: scale into the normal range first.
        let (m, e) = frexp(x * (1u64 << 54) as f64);
        return (m, e - 54);
    }
    let m = f64::from_bits((bits & !(0x7ffu64 << 52)) | (1022u64 << 52));
    (m, exp - 1022)
}

/// gemmlowp's `SaturatingRoundingDoublingHighMul`: `round(a·b / 2^31)`, ties up, saturating
/// the one overflowing case.
#[inline]
pub fn saturating_rounding_doubling_high_mul(a: i32, b: i32) -> i32 {
    if a == i32::MIN && b == i32::MIN {
        return i32::MAX;
    }
    // gemmlowp nudges by ±2^30 and truncates toward zero; for either sign that is
    // `(ab + 2^30) >> 31` with an arithmetic shift.
    ((a as i64 * b as i64 + (1i64 << 30)) >> 31) as i32
}

/// gemmlowp's `RoundingDivideByPOT`: `x / 2^e`, exact halves away from zero.
#[inline]
pub fn rounding_divide_by_pot(x: i32, e: i32) -> i32 {
    if e <= 0 {
        return x;
    }
    let mask = (1i64 << e) - 1;
    let rem = x as i64 & mask;
    let threshold = (mask >> 1) + i64::from(x < 0);
    (x >> e) + i32::from(rem > threshold)
}

impl Requant {
    /// `2^(right − 1)` (0 when the right shift is 0): what rounding to nearest adds before the
    /// right shift.
    fn half(self) -> i64 {
        // `from_real` keeps shifts in −31..=30; the clamp only keeps a hand-made factor from
        // overflowing here.
        let right = (-self.shift).clamp(0, 63);
        if right > 0 {
            1 << (right - 1)
        } else {
            0
        }
    }

    /// Whether [`Self::apply_early`] equals [`Self::apply`] for every accumulator of
    /// magnitude at most `bound`: the left-shifted accumulator stays an i32, and the doubling
    /// high product plus `2^(right − 1)` does too.
    pub fn early_rounding_fits(self, bound: u64) -> bool {
        let left = self.shift.max(0) as u32;
        if left >= 32 || -self.shift > 31 {
            return false;
        }
        let x = (bound as i128) << left;
        if x >= 1 << 31 {
            return false;
        }
        let high = (x * (self.multiplier as i128).abs() + (1 << 30)) >> 31;
        high + 1 + (self.half() as i128) < 1 << 31
    }

    /// [`Self::apply`] with the rounding of the right shift folded into the doubling high
    /// multiply's 64-bit sum, which is how the AVX2 epilogues compute it where
    /// [`Self::early_rounding_fits`] holds: `v = (x·M + 2^30 + 2^(r−1)·2^31) >> 31` is the
    /// high product plus half a step (exactly: the added term is a multiple of 2^31), and
    /// rounding half away from zero is then `(v − [high < 0]) >> r`, where `high < 0` is
    /// `v < 2^(r−1)`.
    pub fn apply_early(self, x: i32) -> i32 {
        let left = self.shift.max(0);
        let right = (-self.shift).max(0);
        let x = x.wrapping_shl(left as u32) as i64;
        let half = self.half();
        let v = ((x * self.multiplier as i64 + (1 << 30) + (half << 31)) >> 31) as i32;
        let negative = right > 0 && (v as i64) < half;
        (v - i32::from(negative)) >> right
    }

    /// The eight lanes' requantization constants of the AVX2 epilogues, [`REQUANT_LANES`]
    /// i32 for 8 channels `(multiplier, shift)`: the multipliers, the odd lanes' moved to the
    /// even positions, the left and right shifts, `2^right − 1` and half of it (the exact
    /// rounding), then the early rounding's ([`Self::apply_early`]) 64-bit sums
    /// `2^30 + 2^(right − 1)·2^31` of the even and of the odd lanes, and the comparand of
    /// its sign test (`2^(right − 1)`, or `i32::MIN` where right is 0).
    pub fn lanes(r: [Requant; 8]) -> [i32; REQUANT_LANES] {
        let mut out = [0i32; REQUANT_LANES];
        for (l, q) in r.iter().enumerate() {
            let right = (-q.shift).max(0);
            let mask = 1i32.wrapping_shl(right as u32).wrapping_sub(1);
            out[l] = q.multiplier;
            out[8 + l] = r[l | 1].multiplier;
            out[16 + l] = q.shift.max(0);
            out[24 + l] = right;
            out[32 + l] = mask;
            out[40 + l] = mask >> 1;
            out[64 + l] = if right > 0 { q.half() as i32 } else { i32::MIN };
        }
        for i in 0..4 {
            for (base, lane) in [(48, 2 * i), (56, 2 * i + 1)] {
                let sum = (1i64 << 30) + (r[lane].half() << 31);
                out[base + 2 * i] = sum as i32;
                out[base + 2 * i + 1] = (sum >> 32) as i32;
            }
        }
        out
    }
}

/// i32 per 8 lanes in [`Requant::lanes`].
pub const REQUANT_LANES: usize = 72;

/// How a layer's SIMD epilogue requantizes (the kernels' const parameter `E`): step by step,
/// as TFLite writes it.
pub const ROUND_EXACT: u8 = 0;
/// With the early rounding ([`Requant::apply_early`]; the layer's accumulators allow it).
pub const ROUND_EARLY: u8 = 1;
/// With the early rounding, and no channel's factor at or above 1, so that the left shift
/// (an instruction per vector) is left out.
pub const ROUND_EARLY_NO_LEFT: u8 = 2;

/// The rounding mode of a layer whose accumulators allow the early rounding (`early`) and
/// whose factors are `requant`.
pub fn rounding_mode(early: bool, requant: &[Requant]) -> u8 {
    if !early {
        ROUND_EXACT
    } else if requant.iter().all(|r| r.shift <= 0) {
        ROUND_EARLY_NO_LEFT
    } else {
        ROUND_EARLY
    }
}

/// How one layer's int32 accumulators become its uint8 outputs: per-channel (or one) requant
/// factors, the output zero point and the fused activation's clamp, all in the output's units.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputQuant {
    /// One entry, or one per output channel.
    pub requant: Vec<Requant>,
    pub zero_point: i32,
    /// Clamp bounds, `0 ≤ min ≤ max ≤ 255`.
    pub min: i32,
    pub max: i32,
}

impl OutputQuant {
    /// The factor of output channel `n`.
    #[inline]
    pub fn channel(&self, n: usize) -> Requant {
        if self.requant.len() == 1 {
            self.requant[0]
        } else {
            self.requant[n]
        }
    }

    /// One accumulator of channel `n` to its output byte.
    #[inline]
    pub fn output(&self, acc: i32, n: usize) -> u8 {
        (self.channel(n).apply(acc) + self.zero_point).clamp(self.min, self.max) as u8
    }

    /// Whether it fits `channels` outputs.
    pub fn fits(&self, channels: usize) -> bool {
        (self.requant.len() == 1 || self.requant.len() == channels)
            && (0..=255).contains(&self.zero_point)
            && 0 <= self.min
            && self.min <= self.max
            && self.max <= 255
    }

    /// The per-channel multipliers and shifts expanded to `channels` entries (SIMD epilogues
    /// load them as vectors).
    pub fn expanded(&self, channels: usize) -> (Vec<i32>, Vec<i32>) {
        (0..channels)
            .map(|n| {
                let r = self.channel(n);
                (r.multiplier, r.shift)
            })
            .unzip()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The early rounding equals TFLite's wherever its bound says so: random factors (small
    /// and large, with left shifts), accumulators up to the bound and at it; a bound that
    /// would overflow is refused.
    #[test]
    fn early_rounding_equals_tflite_within_its_bound() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut checked = 0;
        for i in 0..4000 {
            let real =
                10f64.powf(-((next() % 1000) as f64) / 100.0) * if i % 9 == 0 { 4.0 } else { 1.0 };
            let r = Requant::from_real(real);
            let bound = [1u64 << 20, 1 << 24, 1 << 28, 1 << 30][i % 4] + next() % 1000;
            if !r.early_rounding_fits(bound) {
                continue;
            }
            for _ in 0..50 {
                let x = (next() % (2 * bound + 1)) as i64 - bound as i64;
                let x = x as i32;
                assert_eq!(r.apply_early(x), r.apply(x), "{r:?} at {x}");
            }
            for x in [bound as i32, -(bound as i32), 0, 1, -1] {
                assert_eq!(r.apply_early(x), r.apply(x), "{r:?} at {x}");
            }
            checked += 1;
        }
        assert!(checked > 2000, "{checked} factors checked");
        // Ties: x·M/2^31 exactly half a step either side of zero.
        let r = Requant {
            multiplier: 1 << 30,
            shift: -2,
        };
        for x in -64..=64 {
            assert_eq!(r.apply_early(x), r.apply(x), "tie at {x}");
        }
        let big = Requant {
            multiplier: i32::MAX,
            shift: -1,
        };
        assert!(!big.early_rounding_fits((1 << 31) - 1));
        assert!(!Requant {
            multiplier: 1 << 30,
            shift: 2
        }
        .early_rounding_fits(1 << 29));
    }

    #[test]
    fn multipliers_are_q31_mantissas() {
        let r = Requant::from_real(0.5);
        assert_eq!((r.multiplier, r.shift), (1 << 30, 0));
        let r = Requant::from_real(0.25);
        assert_eq!((r.multiplier, r.shift), (1 << 30, -1));
        let r = Requant::from_real(1.0 - 1e-12);
        assert_eq!(
            (r.multiplier, r.shift),
            (1 << 30, 1),
            "rounds up to 2^31, renormalized"
        );
        assert_eq!(Requant::from_real(0.0).multiplier, 0);
        assert_eq!(Requant::from_real(f64::NAN).multiplier, 0);
        assert_eq!(Requant::from_real(1e-300).multiplier, 0);
        assert_eq!(frexp(3.0), (0.75, 2));
        assert_eq!(frexp(f64::MIN_POSITIVE / 4.0).1, -1023);
    }

    #[test]
    fn requantization_rounds_as_gemmlowp() {
        // 0.5·x is the doubling high multiply alone: its halves go up (−1.5 → −1).
        let half = Requant::from_real(0.5);
        let got: Vec<i32> = [-3, -2, -1, 0, 1, 2, 3].map(|x| half.apply(x)).to_vec();
        assert_eq!(got, [-1, -1, 0, 0, 1, 1, 2]);
        // 0.25·x = (0.5·x) / 2: the high multiply rounds half up, then the shift rounds half
        // away from zero (−6 → −3 → −2; 5 → 3 → 2).
        let quarter = Requant::from_real(0.25);
        let got: Vec<i32> = [-6, -5, -2, 2, 5, 6].map(|x| quarter.apply(x)).to_vec();
        assert_eq!(got, [-2, -1, -1, 1, 2, 2]);
        assert_eq!(
            saturating_rounding_doubling_high_mul(i32::MIN, i32::MIN),
            i32::MAX
        );
        assert_eq!(rounding_divide_by_pot(-5, 1), -3);
        assert_eq!(rounding_divide_by_pot(5, 1), 3);
        assert_eq!(rounding_divide_by_pot(7, 0), 7);
        // A real factor and the fixed-point one agree to within one unit.
        let r = Requant::from_real(0.000_123_456);
        for x in [-1_000_000, -12_345, 0, 777, 98_765_432] {
            let want = (x as f64 * 0.000_123_456).round() as i32;
            assert!((r.apply(x) - want).abs() <= 1, "{x}");
        }
    }

    #[test]
    fn outputs_clamp_to_the_activation() {
        let q = OutputQuant {
            requant: vec![Requant::from_real(0.5)],
            zero_point: 10,
            min: 10,
            max: 20,
        };
        assert!(q.fits(7));
        assert_eq!(q.output(-100, 3), 10);
        assert_eq!(q.output(8, 3), 14);
        assert_eq!(q.output(1000, 3), 20);
    }
}
