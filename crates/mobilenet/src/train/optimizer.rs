//! Optimizers, each exactly as the framework that defined it:
//! - SGD with momentum, optionally Nesterov (PyTorch `torch.optim.SGD`, dampening 0):
//!   `d = g + λp; b = μb + d; p −= lr·(d + μb if nesterov else b)`.
//! - RMSProp as TensorFlow defines it (the paper's optimizer; `tf.compat.v1.train.RMSPropOptimizer`):
//!   `ms = ρ·ms + (1 − ρ)·g²; mom = μ·mom + lr·g/√(ms + ε); p −= mom`, with ε inside the square
//!   root and `ms` starting at 1.
//! - AdamW (Loshchilov & Hutter; PyTorch `torch.optim.AdamW`): decoupled decay `p −= lr·λ·p`,
//!   then Adam with bias correction, ε outside the square root.
//!
//! Weight decay λ is L2 added to the gradient for SGD and RMSProp, decoupled for AdamW.
//! [`DecayRule::Paper`] (the default) applies it only to dense/pointwise convolution and
//! classifier weights: the paper puts "very little or no weight decay" on depthwise filters,
//! and BatchNorm parameters and biases are not decayed. [`DecayRule::All`] decays every
//! parameter, as the classic CIFAR recipe (and PyTorch's default) does.

use serde::{Deserialize, Serialize};

use crate::train::network::{ParamKind, TrainNet};

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "name")]
pub enum OptimizerKind {
    Sgd { momentum: f32, nesterov: bool },
    RmsProp { decay: f32, momentum: f32, eps: f32 },
    AdamW { beta1: f32, beta2: f32, eps: f32 },
}

impl OptimizerKind {
    pub fn name(&self) -> &'static str {
        match self {
            OptimizerKind::Sgd { .. } => "sgd",
            OptimizerKind::RmsProp { .. } => "rmsprop",
            OptimizerKind::AdamW { .. } => "adamw",
        }
    }

    /// Number of state tensors per parameter.
    fn slots(&self) -> usize {
        match self {
            OptimizerKind::Sgd { .. } => 1,
            OptimizerKind::RmsProp { .. } | OptimizerKind::AdamW { .. } => 2,
        }
    }
}

/// Which parameters weight decay applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum DecayRule {
    /// Dense and pointwise convolution weights and the classifier weight only.
    #[default]
    Paper,
    /// Every parameter.
    All,
}

impl DecayRule {
    pub fn decays(self, kind: ParamKind) -> bool {
        match self {
            DecayRule::All => true,
            DecayRule::Paper => matches!(kind, ParamKind::Conv | ParamKind::FcWeight),
        }
    }
}

/// An optimizer with its per-parameter state.
#[derive(Debug, Clone, PartialEq)]
pub struct Optimizer {
    pub kind: OptimizerKind,
    pub weight_decay: f32,
    pub rule: DecayRule,
    /// Steps taken so far (AdamW's bias correction).
    pub steps: u64,
    /// `state[slot][param]`, each the parameter's length; empty until the first step.
    pub state: Vec<Vec<Vec<f32>>>,
    /// When false, only the classifier is updated (`--freeze-body`).
    pub train_body: bool,
}

impl Optimizer {
    pub fn new(kind: OptimizerKind, weight_decay: f32, rule: DecayRule) -> Optimizer {
        Optimizer {
            kind,
            weight_decay,
            rule,
            steps: 0,
            state: Vec::new(),
            train_body: true,
        }
    }

    fn init_state(&mut self, net: &mut TrainNet) {
        let mut lens = Vec::new();
        net.visit_params(|_, _, _, v, _| lens.push(v.len()));
        let fill = match self.kind {
            OptimizerKind::RmsProp { .. } => 1.0,
            _ => 0.0,
        };
        self.state = (0..self.kind.slots())
            .map(|slot| {
                lens.iter()
                    .map(|&l| vec![if slot == 0 { fill } else { 0.0 }; l])
                    .collect()
            })
            .collect();
    }

    /// One update of every parameter from its gradient times `grad_scale` (gradient clipping),
    /// at learning rate `lr`.
    pub fn step(&mut self, net: &mut TrainNet, lr: f32, grad_scale: f32) {
        if self.state.is_empty() {
            self.init_state(net);
        }
        self.steps += 1;
        let t = self.steps as i32;
        let (kind, rule, wd) = (self.kind, self.rule, self.weight_decay);
        let train_body = self.train_body;
        let state = &mut self.state;
        net.visit_params(|i, _, pk, p, g| {
            if !train_body && !matches!(pk, ParamKind::FcWeight | ParamKind::FcBias) {
                return;
            }
            let lambda = if rule.decays(pk) { wd } else { 0.0 };
            let (s0, s1) = state.split_at_mut(1);
            let slot1 = s1.first_mut().map(|s| s[i].as_mut_slice());
            update(kind, p, g, &mut s0[0][i], slot1, lr, lambda, grad_scale, t);
        });
    }
}

/// One optimizer update of one parameter tensor `p` from its gradient `g` (times
/// `grad_scale`), with weight decay `lambda`, at step `t` (1-based); `s0`, `s1` are the
/// optimizer's state slots for this tensor (SGD uses only `s0`).
pub fn update(
    kind: OptimizerKind,
    p: &mut [f32],
    g: &[f32],
    s0: &mut [f32],
    s1: Option<&mut [f32]>,
    lr: f32,
    lambda: f32,
    grad_scale: f32,
    t: i32,
) {
    match kind {
        OptimizerKind::Sgd { momentum, nesterov } => {
            for ((p, &g), b) in p.iter_mut().zip(g).zip(s0.iter_mut()) {
                let d = g * grad_scale + lambda * *p;
                if momentum == 0.0 {
                    *p -= lr * d;
                    continue;
                }
                *b = momentum * *b + d;
                let step = if nesterov { d + momentum * *b } else { *b };
                *p -= lr * step;
            }
        }
        OptimizerKind::RmsProp {
            decay,
            momentum,
            eps,
        } => {
            let mom = s1.expect("RMSProp has two state slots");
            for (((p, &g), s), m) in p.iter_mut().zip(g).zip(s0.iter_mut()).zip(mom.iter_mut()) {
                let g = g * grad_scale + lambda * *p;
                *s = decay * *s + (1.0 - decay) * g * g;
                *m = momentum * *m + lr * g / (*s + eps).sqrt();
                *p -= *m;
            }
        }
        OptimizerKind::AdamW { beta1, beta2, eps } => {
            let m2 = s1.expect("AdamW has two state slots");
            let c1 = 1.0 - beta1.powi(t);
            let c2 = 1.0 - beta2.powi(t);
            for (((p, &g), a), b) in p.iter_mut().zip(g).zip(s0.iter_mut()).zip(m2.iter_mut()) {
                let g = g * grad_scale;
                *p -= lr * lambda * *p;
                *a = beta1 * *a + (1.0 - beta1) * g;
                *b = beta2 * *b + (1.0 - beta2) * g * g;
                *p -= lr * (*a / c1) / ((*b / c2).sqrt() + eps);
            }
        }
    }
}

/// The global L2 norm of all gradients (for clipping).
pub fn grad_norm(net: &mut TrainNet) -> f64 {
    let mut s = 0.0f64;
    net.visit_params(|_, _, _, _, g| {
        s += g.iter().map(|&v| v as f64 * v as f64).sum::<f64>();
    });
    s.sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgd_momentum_nesterov_by_hand() {
        // p = 1, g = 0.5, λ = 0.1, lr = 0.1, μ = 0.9: d = 0.6, b = 0.6, p = 1 − 0.06 = 0.94.
        let (mut p, mut b) = ([1.0f32], [0.0f32]);
        let k = OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: false,
        };
        update(k, &mut p, &[0.5], &mut b, None, 0.1, 0.1, 1.0, 1);
        assert!((p[0] - 0.94).abs() < 1e-7 && (b[0] - 0.6).abs() < 1e-7);
        // Second step, g = 0.5: d = 0.5 + 0.094 = 0.594, b = 0.54 + 0.594 = 1.134, p = 0.94 − 0.1134.
        update(k, &mut p, &[0.5], &mut b, None, 0.1, 0.1, 1.0, 2);
        assert!((p[0] - 0.8266).abs() < 1e-6, "{}", p[0]);
        // Nesterov, first step: b = 0.6, step = d + μb = 0.6 + 0.54 = 1.14, p = 1 − 0.114.
        let (mut p, mut b) = ([1.0f32], [0.0f32]);
        let k = OptimizerKind::Sgd {
            momentum: 0.9,
            nesterov: true,
        };
        update(k, &mut p, &[0.5], &mut b, None, 0.1, 0.1, 1.0, 1);
        assert!((p[0] - 0.886).abs() < 1e-6, "{}", p[0]);
    }

    #[test]
    fn rmsprop_tensorflow_by_hand() {
        // ms starts at 1: ms = 0.9 + 0.1·0.25 = 0.925; mom = 0.1·0.5/√(0.925 + 1) (ε = 1 inside
        // the root); p = 1 − mom.
        let (mut p, mut ms, mut mom) = ([1.0f32], [1.0f32], [0.0f32]);
        let k = OptimizerKind::RmsProp {
            decay: 0.9,
            momentum: 0.9,
            eps: 1.0,
        };
        update(k, &mut p, &[0.5], &mut ms, Some(&mut mom), 0.1, 0.0, 1.0, 1);
        let want_mom = 0.05 / (1.925f64).sqrt();
        assert!((ms[0] - 0.925).abs() < 1e-7);
        assert!((mom[0] as f64 - want_mom).abs() < 1e-7);
        assert!((p[0] as f64 - (1.0 - want_mom)).abs() < 1e-7);
    }

    #[test]
    fn adamw_by_hand() {
        // Step 1: p ← p − lr·λ·p = 1 − 0.1·0.01 = 0.999; m̂ = g, v̂ = g²: p −= lr·g/(|g| + ε).
        let (mut p, mut m, mut v) = ([1.0f32], [0.0f32], [0.0f32]);
        let k = OptimizerKind::AdamW {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        };
        update(k, &mut p, &[0.5], &mut m, Some(&mut v), 0.1, 0.01, 1.0, 1);
        let want = 0.999 - 0.1 * 0.5 / (0.5 + 1e-8);
        assert!((p[0] as f64 - want).abs() < 1e-6, "{}", p[0]);
        assert!((m[0] - 0.05).abs() < 1e-7 && (v[0] - 0.00025).abs() < 1e-7);
    }

    #[test]
    fn paper_rule_spares_depthwise_bn_and_biases() {
        let r = DecayRule::Paper;
        assert!(r.decays(ParamKind::Conv) && r.decays(ParamKind::FcWeight));
        for k in [
            ParamKind::Depthwise,
            ParamKind::BnGamma,
            ParamKind::BnBeta,
            ParamKind::FcBias,
        ] {
            assert!(!r.decays(k) && DecayRule::All.decays(k));
        }
    }
}
