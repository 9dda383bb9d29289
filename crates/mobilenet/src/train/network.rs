//! The trainable network: the same [`LayerSpec`]s as inference, with BatchNorm unfolded.
//!
//! Every convolution is a [`ConvBn`]: conv (no bias) → BatchNorm → clamp (ReLU or ReLU6). In
//! training mode BatchNorm normalizes with the batch's statistics and updates its running
//! averages (PyTorch's rule: `running = (1 − m)·running + m·batch`, the variance unbiased); in
//! eval mode it uses the running averages. Then global average pool, the classifier, and the
//! loss (`loss.rs`).
//!
//! Forward saves, per layer, its BatchNorm input `z` and its output `a` (the next layer's
//! input); backward walks the layers in reverse with two gradient buffers (llm.c's shape: one
//! arena planned per batch size, no allocation per step). Gradients are overwritten, not
//! accumulated, by each backward.
//!
//! [`TrainNet::to_checkpoint`] gives the parameters back as a [`Checkpoint`], which the
//! inference [`crate::MobileNet`] folds as it does any other model.

use std::path::Path;
use std::time::{Duration, Instant};

use mobilenet_kernels::parallel::{self, train as ops, train::Workspace};
use mobilenet_kernels::reference::batch_norm::BnStats;
use mobilenet_kernels::{Clamp, ConvArgs, DwArgs, Kernels};

use crate::config::{LayerKind, LayerSpec, MobileNetConfig};
use crate::error::{Error, Result};
use crate::params::{Checkpoint, Param, Weights};
use crate::rng::Rng;

/// BatchNorm's running-average momentum (PyTorch's default; TF's decay 0.9 … 0.997 is 1 − m).
pub const BN_MOMENTUM: f32 = 0.1;

/// Whether BatchNorm uses batch statistics (and updates its running averages) or the running
/// averages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Train,
    Eval,
}

/// What a parameter is, for per-kind optimizer rules (the paper: no weight decay on depthwise
/// filters; common practice: none on BatchNorm parameters and biases).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// Dense 3×3 (stem, full-conv) or pointwise weights.
    Conv,
    Depthwise,
    BnGamma,
    BnBeta,
    FcWeight,
    FcBias,
}

#[derive(Debug, Clone)]
enum ConvOp {
    Dense(ConvArgs),
    Depthwise(DwArgs),
    Pointwise { cin: usize, cout: usize, hw: usize },
}

/// A convolution followed by BatchNorm and the clamp.
#[derive(Debug, Clone)]
pub struct ConvBn {
    pub name: String,
    op: ConvOp,
    in_len: usize,
    out_len: usize,
    pub weight: Vec<f32>,
    pub dweight: Vec<f32>,
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
    pub dgamma: Vec<f32>,
    pub dbeta: Vec<f32>,
    pub running_mean: Vec<f32>,
    pub running_var: Vec<f32>,
    /// Statistics the last forward normalized with.
    mean: Vec<f32>,
    rstd: Vec<f32>,
    scale: Vec<f32>,
    shift: Vec<f32>,
    /// BatchNorm sums of the last forward, (2·C) f64.
    sums: Vec<f64>,
}

impl ConvBn {
    fn channels(&self) -> usize {
        self.gamma.len()
    }

    fn kind(&self) -> ParamKind {
        match self.op {
            ConvOp::Depthwise(_) => ParamKind::Depthwise,
            _ => ParamKind::Conv,
        }
    }

    /// z = conv(x) for a batch of n.
    fn conv_forward(&self, k: &Kernels, n: usize, x: &[f32], zeros: &[f32], z: &mut [f32]) {
        let zeros = &zeros[..self.channels()];
        match &self.op {
            ConvOp::Dense(args) => {
                parallel::conv3x3(k, args, n, x, &self.weight, zeros, Clamp::NONE, z)
            }
            ConvOp::Depthwise(args) => {
                parallel::dwconv3x3(k, args, n, x, &self.weight, zeros, Clamp::NONE, z)
            }
            ConvOp::Pointwise { cin, cout, hw } => parallel::pointwise(
                k,
                n * hw,
                *cout,
                *cin,
                x,
                &self.weight,
                zeros,
                Clamp::NONE,
                z,
            ),
        }
    }

    /// Sets `mean`, `rstd` from the batch (training) or the running averages (eval), updates
    /// the running averages in training, and the folded `scale`/`shift`.
    fn bn_stats(&mut self, k: &Kernels, z: &[f32], mode: Mode, eps: f32, ws: &mut Workspace) {
        let c = self.channels();
        match mode {
            Mode::Train => {
                let m = z.len() / c;
                let (sum, sumsq) = self.sums.split_at_mut(c);
                ops::bn_sums(k, z, &self.running_mean, sum, sumsq, ws);
                for ch in 0..c {
                    let d = sum[ch] / m as f64;
                    let mean = self.running_mean[ch] as f64 + d;
                    let var = (sumsq[ch] / m as f64 - d * d).max(0.0);
                    self.mean[ch] = mean as f32;
                    self.rstd[ch] = (1.0 / (var + eps as f64).sqrt()) as f32;
                    let unbiased = if m > 1 {
                        var * m as f64 / (m - 1) as f64
                    } else {
                        var
                    };
                    let mo = BN_MOMENTUM as f64;
                    self.running_mean[ch] =
                        ((1.0 - mo) * self.running_mean[ch] as f64 + mo * mean) as f32;
                    self.running_var[ch] =
                        ((1.0 - mo) * self.running_var[ch] as f64 + mo * unbiased) as f32;
                }
            }
            Mode::Eval => {
                for ch in 0..c {
                    self.mean[ch] = self.running_mean[ch];
                    self.rstd[ch] =
                        (1.0 / (self.running_var[ch] as f64 + eps as f64).sqrt()) as f32;
                }
            }
        }
        for ch in 0..c {
            self.scale[ch] = self.gamma[ch] * self.rstd[ch];
            self.shift[ch] = self.beta[ch] - self.mean[ch] * self.scale[ch];
        }
    }
}

/// The classifier: logits = pooled · W + b, W: (Cin, classes).
#[derive(Debug, Clone)]
pub struct Fc {
    pub cin: usize,
    pub classes: usize,
    pub weight: Vec<f32>,
    pub bias: Vec<f32>,
    pub dweight: Vec<f32>,
    pub dbias: Vec<f32>,
}

/// Where one layer's training time went, summed over every forward and backward since the
/// last [`TrainNet::reset_profile`] (the per-layer training profile).
#[derive(Debug, Clone, Default)]
pub struct LayerProfile {
    pub name: String,
    /// The convolution (no bias, no clamp).
    pub conv: Duration,
    /// BatchNorm statistics + scale, shift and clamp.
    pub bn: Duration,
    /// BatchNorm + clamp backward (its two passes).
    pub bn_backward: Duration,
    /// The weight gradient.
    pub filter_grad: Duration,
    /// The input gradient.
    pub input_grad: Duration,
    /// Forward passes counted.
    pub steps: u32,
}

impl LayerProfile {
    pub fn forward(&self) -> Duration {
        self.conv + self.bn
    }

    pub fn backward(&self) -> Duration {
        self.bn_backward + self.filter_grad + self.input_grad
    }
}

/// Activations and gradients planned for one batch capacity.
#[derive(Debug, Default)]
struct Arena {
    capacity: usize,
    /// Per layer: BatchNorm input z and clamp output a, each (N, out_len).
    z: Vec<Vec<f32>>,
    a: Vec<Vec<f32>>,
    pooled: Vec<f32>,
    logits: Vec<f32>,
    dpooled: Vec<f32>,
    g0: Vec<f32>,
    g1: Vec<f32>,
    col: Vec<f32>,
    ws: Workspace,
}

/// MobileNet v1 in training form.
#[derive(Debug)]
pub struct TrainNet {
    config: MobileNetConfig,
    specs: Vec<LayerSpec>,
    pub layers: Vec<ConvBn>,
    pub fc: Fc,
    labels: Vec<String>,
    clamp: Clamp,
    zeros: Vec<f32>,
    arena: Arena,
    /// Batch size of the last forward (what backward will use).
    last_n: usize,
    /// Per conv layer, then the classifier head (pool + FC + their gradients); made with the
    /// network.
    profile: Vec<LayerProfile>,
}

impl TrainNet {
    /// Fresh weights for `config`: He-normal convolutions (fan-out, as torchvision), identity
    /// BatchNorm, classifier normal(0, 0.01) with zero bias.
    pub fn init(config: &MobileNetConfig, labels: Vec<String>, seed: u64) -> Result<TrainNet> {
        config.validate()?;
        let mut rng = Rng::stream(seed, &[0x1417]);
        let mut w = Weights::new();
        for (name, shape) in config.param_shapes() {
            let len: usize = shape.iter().product();
            let data: Vec<f32> = if name == "fc.weight" {
                (0..len).map(|_| (rng.normal() * 0.01) as f32).collect()
            } else if name.ends_with(".weight") && !name.contains(".bn.") {
                // Fan-out = output channels × 9 for 3×3 (1 output per group for depthwise).
                let fan_out = match shape.len() {
                    3 => 9,
                    4 => 9 * shape[3],
                    _ => shape[shape.len() - 1],
                };
                let std = (2.0 / fan_out as f64).sqrt();
                (0..len).map(|_| (rng.normal() * std) as f32).collect()
            } else if name.ends_with(".running_var") || name.ends_with(".bn.weight") {
                vec![1.0; len]
            } else {
                vec![0.0; len]
            };
            w.insert(name, Param::new(shape, data));
        }
        let ckpt = Checkpoint {
            config: MobileNetConfig {
                batch_norm: true,
                ..config.clone()
            },
            weights: w,
            labels,
        };
        TrainNet::from_checkpoint(&ckpt, Path::new("<init>"))
    }

    /// The training form of a checkpoint. A folded checkpoint (`batch_norm: false`, e.g. a TFLite
    /// import) gets identity BatchNorm whose eval-mode output equals the stored bias.
    pub fn from_checkpoint(ckpt: &Checkpoint, source: &Path) -> Result<TrainNet> {
        ckpt.check(source)?;
        let folded = !ckpt.config.batch_norm;
        let config = MobileNetConfig {
            batch_norm: true,
            ..ckpt.config.clone()
        };
        let specs = config.layers();
        let w = &ckpt.weights;
        let get = |name: &str| -> Result<Vec<f32>> {
            w.get(name)
                .map(|p| p.data.clone())
                .ok_or_else(|| Error::MissingParam {
                    path: source.into(),
                    name: name.into(),
                })
        };
        let eps = config.bn_eps;
        let mut layers = Vec::new();
        let mut fc = None;
        let mut max_c = 0;
        for spec in &specs {
            let [h, wd, cin] = spec.input;
            let cout = spec.output[2];
            let op = match spec.kind {
                LayerKind::Stem | LayerKind::Conv => ConvOp::Dense(ConvArgs {
                    geom: spec.geometry(),
                    cin,
                    cout,
                }),
                LayerKind::Depthwise => ConvOp::Depthwise(DwArgs {
                    geom: spec.geometry(),
                    c: cin,
                }),
                LayerKind::Pointwise => ConvOp::Pointwise {
                    cin,
                    cout,
                    hw: h * wd,
                },
                LayerKind::Fc => {
                    fc = Some(Fc {
                        cin,
                        classes: cout,
                        weight: get("fc.weight")?,
                        bias: get("fc.bias")?,
                        dweight: vec![0.0; cin * cout],
                        dbias: vec![0.0; cout],
                    });
                    continue;
                }
                LayerKind::AvgPool | LayerKind::Softmax => continue,
            };
            let name = &spec.name;
            let (gamma, beta, running_mean, running_var) = if folded {
                let bias = get(&format!("{name}.bias"))?;
                let g = ((1.0 + eps as f64).sqrt()) as f32;
                (vec![g; cout], bias, vec![0.0; cout], vec![1.0; cout])
            } else {
                (
                    get(&format!("{name}.bn.weight"))?,
                    get(&format!("{name}.bn.bias"))?,
                    get(&format!("{name}.bn.running_mean"))?,
                    get(&format!("{name}.bn.running_var"))?,
                )
            };
            let weight = get(&format!("{name}.weight"))?;
            max_c = max_c.max(cout);
            layers.push(ConvBn {
                name: name.clone(),
                op,
                in_len: spec.input.iter().product(),
                out_len: spec.output.iter().product(),
                dweight: vec![0.0; weight.len()],
                weight,
                dgamma: vec![0.0; cout],
                dbeta: vec![0.0; cout],
                gamma,
                beta,
                running_mean,
                running_var,
                mean: vec![0.0; cout],
                rstd: vec![0.0; cout],
                scale: vec![0.0; cout],
                shift: vec![0.0; cout],
                sums: vec![0.0; 2 * cout],
            });
        }
        // A body-only model (classes 0) gets an empty classifier: training it needs
        // `replace_classifier` first (the trainer refuses 0 classes).
        let fc = fc.unwrap_or_else(|| Fc {
            cin: config.feature_dim(),
            classes: 0,
            weight: vec![],
            bias: vec![],
            dweight: vec![],
            dbias: vec![],
        });
        let mut net = TrainNet {
            clamp: config.activation.clamp(),
            config,
            specs,
            layers,
            fc,
            labels: ckpt.labels.clone(),
            zeros: vec![0.0; max_c],
            arena: Arena::default(),
            last_n: 0,
            profile: Vec::new(),
        };
        net.reset_profile();
        Ok(net)
    }

    pub fn config(&self) -> &MobileNetConfig {
        &self.config
    }

    pub fn layer_specs(&self) -> &[LayerSpec] {
        &self.specs
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Where the training time went per layer since the last [`TrainNet::reset_profile`]: the
    /// convolutions in order, then `head` (pool, classifier and their gradients in
    /// `conv`/`filter_grad`/`input_grad`).
    pub fn profile(&self) -> &[LayerProfile] {
        &self.profile
    }

    pub fn reset_profile(&mut self) {
        self.profile = self
            .layers
            .iter()
            .map(|l| l.name.as_str())
            .chain(["head"])
            .map(|name| LayerProfile {
                name: name.into(),
                ..LayerProfile::default()
            })
            .collect();
    }

    /// (H, W, 3) of one input image.
    pub fn input_hwc(&self) -> [usize; 3] {
        self.specs[0].input
    }

    /// Replaces the classifier with a fresh one of `classes` outputs (fine-tuning).
    pub fn replace_classifier(&mut self, classes: usize, labels: Vec<String>, seed: u64) {
        let mut rng = Rng::stream(seed, &[0xFC]);
        let cin = self.fc.cin;
        self.fc = Fc {
            cin,
            classes,
            weight: (0..cin * classes)
                .map(|_| (rng.normal() * 0.01) as f32)
                .collect(),
            bias: vec![0.0; classes],
            dweight: vec![0.0; cin * classes],
            dbias: vec![0.0; classes],
        };
        self.config.classes = classes;
        self.specs = self.config.layers();
        self.labels = labels;
        self.arena = Arena::default();
    }

    /// The parameters as a checkpoint (BatchNorm unfolded, running statistics included).
    pub fn to_checkpoint(&self) -> Checkpoint {
        let mut w = Weights::new();
        let shapes: std::collections::HashMap<String, Vec<usize>> =
            self.config.param_shapes().into_iter().collect();
        let mut put = |name: String, data: &[f32]| {
            let shape = shapes[&name].clone();
            w.insert(name, Param::new(shape, data.to_vec()));
        };
        for l in &self.layers {
            put(format!("{}.weight", l.name), &l.weight);
            put(format!("{}.bn.weight", l.name), &l.gamma);
            put(format!("{}.bn.bias", l.name), &l.beta);
            put(format!("{}.bn.running_mean", l.name), &l.running_mean);
            put(format!("{}.bn.running_var", l.name), &l.running_var);
        }
        if self.config.has_classifier() {
            put("fc.weight".into(), &self.fc.weight);
            put("fc.bias".into(), &self.fc.bias);
        }
        Checkpoint {
            config: self.config.clone(),
            weights: w,
            labels: self.labels.clone(),
        }
    }

    /// Every trainable parameter with its gradient, in a fixed order (the optimizer's state is
    /// kept in this order): `f(index, name, kind, value, grad)`.
    pub fn visit_params(&mut self, mut f: impl FnMut(usize, &str, ParamKind, &mut [f32], &[f32])) {
        let mut i = 0;
        let mut name = String::new();
        for l in &mut self.layers {
            let kind = l.kind();
            for (suffix, kind, v, g) in [
                ("weight", kind, &mut l.weight, &l.dweight),
                ("bn.weight", ParamKind::BnGamma, &mut l.gamma, &l.dgamma),
                ("bn.bias", ParamKind::BnBeta, &mut l.beta, &l.dbeta),
            ] {
                name.clear();
                name.push_str(&l.name);
                name.push('.');
                name.push_str(suffix);
                f(i, &name, kind, v, g);
                i += 1;
            }
        }
        f(
            i,
            "fc.weight",
            ParamKind::FcWeight,
            &mut self.fc.weight,
            &self.fc.dweight,
        );
        f(
            i + 1,
            "fc.bias",
            ParamKind::FcBias,
            &mut self.fc.bias,
            &self.fc.dbias,
        );
    }

    /// Total trainable values.
    pub fn num_params(&mut self) -> usize {
        let mut n = 0;
        self.visit_params(|_, _, _, v, _| n += v.len());
        n
    }

    /// Bytes the activation arena holds (for the docs' memory figures).
    pub fn arena_bytes(&self) -> usize {
        let a = &self.arena;
        4 * (a.z.iter().chain(&a.a).map(Vec::len).sum::<usize>()
            + a.pooled.len()
            + a.logits.len()
            + a.dpooled.len()
            + a.g0.len()
            + a.g1.len()
            + a.col.len())
            + a.ws.bytes()
    }

    /// A digest of which units the clamp passed in the last forward (strictly inside its
    /// range). Finite-difference checks compare it before and after a perturbation: a change
    /// means a unit crossed a kink, where the derivative is not defined.
    pub fn active_digest(&self) -> u64 {
        let n = self.last_n;
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for (l, a) in self.layers.iter().zip(&self.arena.a) {
            for &v in &a[..n * l.out_len] {
                let bit = mobilenet_kernels::reference::batch_norm::passes(self.clamp, v) as u64;
                h = (h ^ bit).wrapping_mul(0x1000_0000_01b3);
            }
        }
        h
    }

    fn plan(&mut self, n: usize) {
        if n <= self.arena.capacity {
            return;
        }
        let a = &mut self.arena;
        a.capacity = n;
        a.z = self
            .layers
            .iter()
            .map(|l| vec![0.0; n * l.out_len])
            .collect();
        a.a = self
            .layers
            .iter()
            .map(|l| vec![0.0; n * l.out_len])
            .collect();
        let max = self
            .layers
            .iter()
            .map(|l| l.out_len.max(l.in_len))
            .max()
            .unwrap_or(0);
        a.g0 = vec![0.0; n * max];
        a.g1 = vec![0.0; n * max];
        a.pooled = vec![0.0; n * self.fc.cin];
        a.dpooled = vec![0.0; n * self.fc.cin];
        a.logits = vec![0.0; n * self.fc.classes];
    }

    /// Logits (N, classes) of a normalized NHWC batch `x` of `n` images.
    pub fn forward(&mut self, k: &Kernels, x: &[f32], n: usize, mode: Mode) -> Result<&[f32]> {
        let [h, w, c] = self.input_hwc();
        if n == 0 || x.len() != n * h * w * c {
            return Err(Error::InputShape {
                expected: format!("[N, {h}, {w}, {c}] with N >= 1"),
                got: [n, h, w, if n == 0 { 0 } else { x.len() / (n * h * w) }],
            });
        }
        self.plan(n);
        self.last_n = n;
        let eps = self.config.bn_eps;
        let clamp = self.clamp;
        let arena = &mut self.arena;
        for (i, l) in self.layers.iter_mut().enumerate() {
            let len = n * l.out_len;
            let (prev, rest) = arena.a.split_at_mut(i);
            let input = if i == 0 {
                x
            } else {
                &prev[i - 1][..n * l.in_len]
            };
            let z = &mut arena.z[i][..len];
            let t0 = Instant::now();
            l.conv_forward(k, n, input, &self.zeros, z);
            let t1 = Instant::now();
            l.bn_stats(k, z, mode, eps, &mut arena.ws);
            ops::scale_shift_clamp(k, z, &l.scale, &l.shift, clamp, &mut rest[0][..len]);
            let p = &mut self.profile[i];
            p.conv += t1 - t0;
            p.bn += t1.elapsed();
            p.steps += 1;
        }
        let t_head = Instant::now();
        let last = self.layers.last().expect("MobileNet has layers");
        let cin = self.fc.cin;
        let pooled = &mut arena.pooled[..n * cin];
        parallel::global_avg_pool(
            k,
            n,
            cin,
            &arena.a[self.layers.len() - 1][..n * last.out_len],
            pooled,
        );
        let logits = &mut arena.logits[..n * self.fc.classes];
        parallel::pointwise(
            k,
            n,
            self.fc.classes,
            cin,
            pooled,
            &self.fc.weight,
            &self.fc.bias,
            Clamp::NONE,
            logits,
        );
        let head = self.profile.last_mut().expect("profile has a head");
        head.conv += t_head.elapsed();
        head.steps += 1;
        Ok(&arena.logits[..n * self.fc.classes])
    }

    /// Gradients of the classifier alone (fine-tuning with a frozen body).
    pub fn backward_classifier(&mut self, dlogits: &[f32]) -> Result<()> {
        let n = self.last_n;
        let (cin, classes) = (self.fc.cin, self.fc.classes);
        if n == 0 || dlogits.len() != n * classes {
            return Err(Error::Config(
                "backward_classifier: logit gradients do not fit".into(),
            ));
        }
        let arena = &mut self.arena;
        ops::matmul_tn(
            cin,
            classes,
            n,
            &arena.pooled[..n * cin],
            dlogits,
            &mut self.fc.dweight,
            &mut arena.ws,
        );
        self.fc.dbias.fill(0.0);
        for row in dlogits.chunks_exact(classes) {
            for (d, v) in self.fc.dbias.iter_mut().zip(row) {
                *d += v;
            }
        }
        Ok(())
    }

    /// Gradients of every parameter for the loss whose gradient with respect to the logits of
    /// the last [`TrainNet::forward`] is `dlogits` (N, classes). Overwrites all gradients.
    pub fn backward(&mut self, k: &Kernels, x: &[f32], dlogits: &[f32]) -> Result<()> {
        let n = self.last_n;
        let classes = self.fc.classes;
        let cin = self.fc.cin;
        if n == 0 || dlogits.len() != n * classes {
            return Err(Error::Config(format!(
                "backward: {} logit gradients for a forward of {n} × {classes}",
                dlogits.len()
            )));
        }
        let t_head = Instant::now();
        self.backward_classifier(dlogits)?;
        let clamp = self.clamp;
        let arena = &mut self.arena;
        let dpooled = &mut arena.dpooled[..n * cin];
        ops::matmul_nt(n, cin, classes, dlogits, &self.fc.weight, dpooled);
        // Global average pool: every position gets dpooled / HW.
        let last_len = self.layers.last().map_or(0, |l| l.out_len);
        let hw = last_len / cin;
        let inv = 1.0 / hw as f32;
        for (gi, dp) in arena.g0[..n * last_len]
            .chunks_exact_mut(last_len)
            .zip(dpooled.chunks_exact(cin))
        {
            for px in gi.chunks_exact_mut(cin) {
                for (g, d) in px.iter_mut().zip(dp) {
                    *g = d * inv;
                }
            }
        }
        let head = self.profile.last_mut().expect("profile has a head");
        head.input_grad += t_head.elapsed();
        let (mut g, mut g_next) = (std::mem::take(&mut arena.g0), std::mem::take(&mut arena.g1));
        for i in (0..self.layers.len()).rev() {
            let l = &mut self.layers[i];
            let t0 = Instant::now();
            let len = n * l.out_len;
            let d = &mut g[..len];
            let stats = BnStats {
                mean: &l.mean,
                rstd: &l.rstd,
                scale: &l.scale,
                shift: &l.shift,
            };
            ops::bn_act_backward(
                k,
                d,
                &arena.z[i][..len],
                stats,
                &l.gamma,
                clamp,
                &mut l.dgamma,
                &mut l.dbeta,
                &mut arena.ws,
            );
            let input = if i == 0 {
                x
            } else {
                &arena.a[i - 1][..n * l.in_len]
            };
            let dz = &g[..len];
            let dx = &mut g_next[..n * l.in_len];
            let t1 = Instant::now();
            let t2 = match &l.op {
                ConvOp::Dense(args) => {
                    ops::conv3x3_backward_filter(
                        args,
                        n,
                        input,
                        dz,
                        &mut l.dweight,
                        &mut arena.col,
                        &mut arena.ws,
                    );
                    let t2 = Instant::now();
                    if i > 0 {
                        ops::conv3x3_backward_input(args, n, dz, &l.weight, dx, &mut arena.col);
                    }
                    t2
                }
                ConvOp::Depthwise(args) => {
                    ops::dwconv3x3_backward_filter(
                        k,
                        args,
                        n,
                        input,
                        dz,
                        &mut l.dweight,
                        &mut arena.ws,
                    );
                    let t2 = Instant::now();
                    if i > 0 {
                        ops::dwconv3x3_backward_input(k, args, n, dz, &l.weight, dx);
                    }
                    t2
                }
                ConvOp::Pointwise { cin, cout, hw } => {
                    let m = n * hw;
                    ops::matmul_tn(*cin, *cout, m, input, dz, &mut l.dweight, &mut arena.ws);
                    let t2 = Instant::now();
                    if i > 0 {
                        ops::matmul_nt(m, *cin, *cout, dz, &l.weight, dx);
                    }
                    t2
                }
            };
            let p = &mut self.profile[i];
            p.bn_backward += t1 - t0;
            p.filter_grad += t2 - t1;
            p.input_grad += t2.elapsed();
            std::mem::swap(&mut g, &mut g_next);
        }
        arena.g0 = g;
        arena.g1 = g_next;
        Ok(())
    }
}
