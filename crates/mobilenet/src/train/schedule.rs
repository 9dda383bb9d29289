//! Learning-rate schedules, evaluated per step (epoch boundaries at multiples of
//! `steps_per_epoch`), with an optional linear warm-up from `lr / warmup_steps` to `lr`.
//! - constant;
//! - step: ×γ every `every` epochs;
//! - cosine: `lr·½(1 + cos(π·t/T))` after warm-up, T the remaining steps (to 0);
//! - one-cycle (Smith & Topin; PyTorch `OneCycleLR` defaults): cosine from `lr/25` up to `lr`
//!   over the first 30 % of steps, then cosine down to `lr/25/10⁴`; it has its own warm-up;
//! - exponential: ×γ every `every` epochs, stepwise (TF-Slim's 0.94 every 2.5 epochs).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "name")]
pub enum ScheduleKind {
    Constant,
    Step { every: f32, gamma: f32 },
    Cosine,
    OneCycle,
    Exponential { every: f32, gamma: f32 },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub kind: ScheduleKind,
    pub lr: f32,
    pub warmup_steps: u64,
    pub total_steps: u64,
    pub steps_per_epoch: u64,
}

impl Schedule {
    /// Learning rate for step `t` (0-based).
    pub fn lr(&self, t: u64) -> f32 {
        let lr = self.lr as f64;
        let total = self.total_steps.max(1) as f64;
        let spe = self.steps_per_epoch.max(1) as f64;
        let epoch = t as f64 / spe;
        if !matches!(self.kind, ScheduleKind::OneCycle) && t < self.warmup_steps {
            return (lr * (t + 1) as f64 / self.warmup_steps as f64) as f32;
        }
        let v = match self.kind {
            ScheduleKind::Constant => lr,
            ScheduleKind::Step { every, gamma } | ScheduleKind::Exponential { every, gamma } => {
                lr * (gamma as f64).powi((epoch / every.max(1e-6) as f64).floor() as i32)
            }
            ScheduleKind::Cosine => {
                let w = self.warmup_steps as f64;
                let frac = ((t as f64 - w) / (total - w).max(1.0)).clamp(0.0, 1.0);
                lr * 0.5 * (1.0 + (std::f64::consts::PI * frac).cos())
            }
            ScheduleKind::OneCycle => {
                let initial = lr / 25.0;
                let min = initial / 1e4;
                let up = (0.3 * total - 1.0).max(1.0);
                let tt = t as f64;
                let cos = |from: f64, to: f64, f: f64| {
                    to + (from - to)
                        * 0.5
                        * (1.0 + (std::f64::consts::PI * f.clamp(0.0, 1.0)).cos())
                };
                if tt <= up {
                    cos(initial, lr, tt / up)
                } else {
                    cos(lr, min, (tt - up) / (total - 1.0 - up).max(1.0))
                }
            }
        };
        v as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sched(kind: ScheduleKind, warmup: u64) -> Schedule {
        Schedule {
            kind,
            lr: 0.1,
            warmup_steps: warmup,
            total_steps: 100,
            steps_per_epoch: 10,
        }
    }

    #[test]
    fn shapes() {
        let c = sched(ScheduleKind::Cosine, 0);
        assert!((c.lr(0) - 0.1).abs() < 1e-7 && (c.lr(50) - 0.05).abs() < 1e-6 && c.lr(100) < 1e-7);
        let w = sched(ScheduleKind::Cosine, 10);
        assert!((w.lr(0) - 0.01).abs() < 1e-7 && (w.lr(9) - 0.1).abs() < 1e-7);
        let s = sched(
            ScheduleKind::Step {
                every: 3.0,
                gamma: 0.1,
            },
            0,
        );
        assert!((s.lr(29) - 0.1).abs() < 1e-7 && (s.lr(30) - 0.01).abs() < 1e-8);
        let e = sched(
            ScheduleKind::Exponential {
                every: 2.5,
                gamma: 0.94,
            },
            0,
        );
        assert!((e.lr(24) - 0.1).abs() < 1e-7 && (e.lr(25) - 0.094).abs() < 1e-7);
        let o = sched(ScheduleKind::OneCycle, 0);
        assert!((o.lr(0) - 0.004).abs() < 1e-7);
        let peak = (0..100).map(|t| o.lr(t)).fold(0.0, f32::max);
        assert!((peak - 0.1).abs() < 1e-6 && o.lr(99) < 1e-6);
    }
}
