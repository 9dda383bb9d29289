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
            match kind {
                OptimizerKind::Sgd { momentum, nesterov } => {
                    let buf = &mut state[0][i];
                    for ((p, &g), b) in p.iter_mut().zip(g).zip(buf.iter_mut()) {
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
                    let (ms, mom) = state.split_at_mut(1);
                    let (ms, mom) = (&mut ms[0][i], &mut mom[0][i]);
                    for (((p, &g), s), m) in
                        p.iter_mut().zip(g).zip(ms.iter_mut()).zip(mom.iter_mut())
                    {
                        let g = g * grad_scale + lambda * *p;
                        *s = decay * *s + (1.0 - decay) * g * g;
                        *m = momentum * *m + lr * g / (*s + eps).sqrt();
                        *p -= *m;
                    }
                }
                OptimizerKind::AdamW { beta1, beta2, eps } => {
                    let (m1, m2) = state.split_at_mut(1);
                    let (m1, m2) = (&mut m1[0][i], &mut m2[0][i]);
                    let c1 = 1.0 - beta1.powi(t);
                    let c2 = 1.0 - beta2.powi(t);
                    for (((p, &g), a), b) in
                        p.iter_mut().zip(g).zip(m1.iter_mut()).zip(m2.iter_mut())
                    {
                        let g = g * grad_scale;
                        *p -= lr * lambda * *p;
                        *a = beta1 * *a + (1.0 - beta1) * g;
                        *b = beta2 * *b + (1.0 - beta2) * g * g;
                        *p -= lr * (*a / c1) / ((*b / c2).sqrt() + eps);
                    }
                }
            }
        });
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
