//! The quantized inference plan: a [`QuantCheckpoint`] prepared once (requantization factors
//! as TFLite computes them, pointwise weights packed for VNNI, depthwise weights with the
//! zero points folded in, dense 3×3 weights as exact `w − wz` floats) and run on the kernel
//! table's `q8` entries. The depthwise layers run uint8 → uint8 on `q8.dwconv3x3`; the stem
//! (and the full-convolution variant's dense 3×3 layers) as exact integer arithmetic carried in
//! f32 lanes on the float kernels.
//!
//! Per layer, TFLite's arithmetic: `acc = Σ (x − xz)(w − wz) + bias`, requantized with
//! `QuantizeMultiplier(in_scale · w_scale / out_scale)` (in f64, as TFLite), plus the output
//! zero point, clamped to the fused activation's range. The pool is TFLite's uint8 average
//! (`(Σ + n/2) / n`). The softmax is computed in f32 on the dequantized logits and quantized
//! to the file's softmax output (TFLite's uint8 softmax is a fixed-point approximation of the
//! same function; the two differ by at most one step, see `tests/int8.rs`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use mobilenet_kernels::parallel::{q8 as pq, team};
use mobilenet_kernels::qdepthwise::QDepthwise;
use mobilenet_kernels::qpacked::QPointwise;
use mobilenet_kernels::quant::{OutputQuant, Requant};
use mobilenet_kernels::reference::q8::global_avg_pool;
use mobilenet_kernels::{ConvArgs, DwArgs, Kernels};

use super::{QParams, QuantCheckpoint, QuantLayer};
use crate::config::{LayerKind, MobileNetConfig};
use crate::error::{Error, Result};
use crate::model::Profile;
use crate::tensor::Tensor;

#[derive(Debug)]
enum Step {
    /// The stem and the full-convolution variant's dense 3×3 layers: im2col, then the GEMM of
    /// the (9·Cin, Cout) weights.
    Conv(ConvArgs, QPointwise),
    Depthwise(DwArgs, QDepthwise),
    Pointwise(QPointwise),
}

/// A quantized MobileNet v1 ready to run.
#[derive(Debug)]
pub struct QuantModel {
    config: MobileNetConfig,
    labels: Vec<String>,
    source: PathBuf,
    input_hwc: [usize; 3],
    input: QParams,
    /// Each step with its `LayerSpec` name.
    body: Vec<(String, Step)>,
    /// Pool output quantization (= its input's) and clamp.
    pooled: QParams,
    pool_clamp: (u8, u8),
    fc: Option<(QPointwise, QParams)>,
    softmax: Option<QParams>,
    /// `exp(scale · −d)` for every distance d = max − q (0..=255) of a uint8 logit below the
    /// row's largest: the softmax's 256 possible terms, computed once with the expression the
    /// per-element loop used (the same bits).
    softmax_exp: Vec<f32>,
    /// Largest activation of one image, in elements.
    largest: usize,
    /// Largest im2col matrix of one image, in bytes.
    largest_cols: usize,
    scratch: Scratch,
}

/// A pass's input: a normalized float batch (quantized first) or one already in the plan's
/// uint8 input form, with its image count.
#[derive(Clone, Copy)]
enum Input<'a> {
    Float(&'a Tensor),
    Bytes(&'a [u8], usize),
}

/// One pass's working buffers: two uint8 activations, each as long as the largest activation
/// of the batch, and the dense 3×3 layers' im2col rows.
#[derive(Debug, Default)]
struct Buffers {
    a: Vec<u8>,
    b: Vec<u8>,
    cols: Vec<u8>,
}

/// Buffers kept between passes, so that a pass after the first allocates, zeroes and faults
/// in no activation memory. Concurrent callers each get their own.
#[derive(Debug, Default)]
struct Scratch(std::sync::Mutex<Vec<Buffers>>);

impl Scratch {
    fn take(&self, len: usize, cols: usize) -> Buffers {
        let mut b = self
            .0
            .lock()
            .map(|mut v| v.pop())
            .ok()
            .flatten()
            .unwrap_or_default();
        b.a.resize(len, 0);
        b.b.resize(len, 0);
        b.cols.resize(cols, 0);
        b
    }

    fn put(&self, b: Buffers) {
        if let Ok(mut v) = self.0.lock() {
            v.push(b);
        }
    }
}

impl QuantModel {
    /// Prepares `q`; `source` names the file in errors.
    pub fn new(q: &QuantCheckpoint, source: &Path) -> Result<QuantModel> {
        let bad = |what: String| Error::InvalidConfig {
            path: source.into(),
            what,
        };
        let specs: Vec<_> = q
            .config
            .layers()
            .into_iter()
            .filter(|l| l.kind != LayerKind::Softmax)
            .collect();
        if specs.len() != q.layers.len() {
            return Err(bad(format!(
                "{} quantized layers for a network of {}",
                q.layers.len(),
                specs.len()
            )));
        }
        let mut body = Vec::new();
        let mut largest_cols = 0;
        let mut fc = None;
        let mut pooled = None;
        for (spec, l) in specs.iter().zip(&q.layers) {
            if spec.kind != l.kind {
                return Err(bad(format!("layer {} is a {:?}", spec.name, l.kind)));
            }
            let cin = spec.input[2];
            let cout = spec.output[2];
            match l.kind {
                LayerKind::AvgPool => {
                    pooled = Some(l.output);
                    continue;
                }
                LayerKind::Depthwise => {
                    let out = output_quant(l, cout).map_err(bad)?;
                    let args = DwArgs {
                        geom: spec.geometry(),
                        c: cin,
                    };
                    if cin != cout {
                        return Err(bad(format!("{} maps {cin} to {cout} channels", l.name)));
                    }
                    check_layer(l, 9 * cout, cout).map_err(bad)?;
                    let p = QDepthwise::new(
                        cout,
                        l.weight.clone(),
                        &l.weight_zero_point,
                        l.bias.clone(),
                        l.input.zero_point,
                        out,
                    );
                    body.push((spec.name.clone(), Step::Depthwise(args, p)));
                }
                LayerKind::Stem | LayerKind::Conv => {
                    let out = output_quant(l, cout).map_err(bad)?;
                    check_layer(l, 9 * cin * cout, cout).map_err(bad)?;
                    let args = ConvArgs {
                        geom: spec.geometry(),
                        cin,
                        cout,
                    };
                    // (3, 3, Cin, Cout) row-major is the (9·Cin, Cout) matrix of the im2col
                    // rows' tap order. Zero rows pad K to a multiple of 4 (the RGB stem's 27
                    // to 28; im2col fills the extra bytes with the input zero point, so they
                    // add nothing): the byte kernels (VNNI, AVX-VNNI, and the byte-pair GEMM
                    // where the weights allow it) take whole groups of 4, and the 16-byte
                    // copies of the fast im2col make the extra byte free.
                    let k = (9 * cin).next_multiple_of(4);
                    let p = qpointwise(l, k, cout, out);
                    largest_cols = largest_cols.max(args.geom.out_h() * args.geom.out_w() * p.k);
                    body.push((spec.name.clone(), Step::Conv(args, p)));
                }
                LayerKind::Pointwise | LayerKind::Fc => {
                    let out = output_quant(l, cout).map_err(bad)?;
                    check_layer(l, cin * cout, cout).map_err(bad)?;
                    let p = qpointwise(l, cin, cout, out);
                    if l.kind == LayerKind::Fc {
                        fc = Some((p, l.output));
                    } else {
                        body.push((spec.name.clone(), Step::Pointwise(p)));
                    }
                }
                LayerKind::Softmax => {}
            }
        }
        let pooled = pooled.ok_or_else(|| bad("no average pool".into()))?;
        Ok(QuantModel {
            config: q.config.clone(),
            labels: q.labels.clone(),
            source: source.into(),
            input_hwc: specs[0].input,
            input: q.input,
            body,
            pooled,
            pool_clamp: (0, 255),
            softmax_exp: match &fc {
                Some((_, logits_q)) => (0..256)
                    .map(|d: i32| (logits_q.scale * (-d) as f32).exp())
                    .collect(),
                None => Vec::new(),
            },
            fc,
            softmax: q.softmax,
            largest: largest_activation(&q.config),
            largest_cols,
            scratch: Scratch::default(),
        })
    }

    /// GEMM layers (dense 3×3, pointwise, classifier) whose weights allow the exact byte-pair
    /// GEMM of CPUs without VNNI (`QPointwise::byte_pairs_exact`), and all GEMM layers.
    pub fn byte_pair_layers(&self) -> (usize, usize) {
        let gemms = self
            .body
            .iter()
            .filter_map(|(_, s)| match s {
                Step::Conv(_, p) | Step::Pointwise(p) => Some(p),
                Step::Depthwise(..) => None,
            })
            .chain(self.fc.as_ref().map(|(p, _)| p));
        gemms.fold((0, 0), |(e, t), p| (e + p.byte_pairs_exact as usize, t + 1))
    }

    pub fn config(&self) -> &MobileNetConfig {
        &self.config
    }

    /// The file it came from.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The input shape one image must have: (H, W, 3).
    pub fn input_hwc(&self) -> [usize; 3] {
        self.input_hwc
    }

    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    pub fn set_labels(&mut self, labels: Vec<String>) {
        self.labels = labels;
    }

    pub fn has_classifier(&self) -> bool {
        self.fc.is_some()
    }

    /// Values per image of [`Self::forward_u8`].
    pub fn output_dim(&self) -> usize {
        match &self.fc {
            Some((p, _)) => p.n,
            None => self.config.feature_dim(),
        }
    }

    /// The quantization of [`Self::forward_u8`]'s values: the softmax's when the file has one,
    /// else the logits' (or a body-only model's pooled features').
    pub fn output_quant(&self) -> QParams {
        match (&self.softmax, &self.fc) {
            (Some(s), Some(_)) => *s,
            (_, Some((_, logits))) => *logits,
            _ => self.pooled,
        }
    }

    /// The network's uint8 outputs (N, [`Self::output_dim`]) for a normalized NHWC batch:
    /// with a classifier, the softmax's bytes (or the logits' when the file has no softmax);
    /// without, the pooled features.
    pub fn forward_u8(&self, k: &Kernels, x: &Tensor) -> Result<Vec<u8>> {
        self.forward_traced(k, x, None)
    }

    /// [`Self::forward_u8`], also appending every layer's uint8 output (stem, each depthwise
    /// and pointwise layer, pool, fc, softmax) to `trace`: for finding the first layer where
    /// two runtimes part.
    pub fn forward_traced(
        &self,
        k: &Kernels,
        x: &Tensor,
        trace: Option<&mut Vec<Vec<u8>>>,
    ) -> Result<Vec<u8>> {
        self.run(k, x, trace, None)
    }

    /// [`Self::forward_u8`], with the time of each layer appended to `profile` under its
    /// `LayerSpec` name (the softmax, when the file has one, counts as the classifier's).
    pub fn forward_profiled(
        &self,
        k: &Kernels,
        x: &Tensor,
        profile: &mut Profile,
    ) -> Result<Vec<u8>> {
        self.run(k, x, None, Some(profile))
    }

    /// The input batch quantized to the plan's uint8 input form: the model's input
    /// quantization (what [`Self::forward_bytes`] takes; what TFLite's uint8 input tensor
    /// holds for Google's files).
    pub fn quantize_input(&self, k: &Kernels, x: &Tensor) -> Result<Vec<u8>> {
        self.check_input(x.batch(), x.shape)?;
        let mut q = vec![0u8; x.data.len()];
        pq::quantize(k, &x.data, self.input.scale, self.input.zero_point, &mut q);
        Ok(q)
    }

    /// [`Self::forward_u8`] for `n` images already in the plan's uint8 input form
    /// ([`Self::quantize_input`]), as a runtime fed the model's integer input tensor runs
    /// it; each layer's time appended to `profile` when given.
    pub fn forward_bytes(
        &self,
        k: &Kernels,
        x: &[u8],
        n: usize,
        profile: Option<&mut Profile>,
    ) -> Result<Vec<u8>> {
        let [h, w, c] = self.input_hwc;
        if x.len() != n * h * w * c || n == 0 {
            // A byte count that is not N whole images, as a shape: N rows of what there is.
            let row = w * c;
            let rows = x.len() / row.max(1) / n.max(1);
            return Err(Error::InputShape {
                expected: format!("[N, {h}, {w}, {c}] with N >= 1 ({n} images given)"),
                got: [n, rows, w, c],
            });
        }
        team::with_team(|| self.run_on_team(k, Input::Bytes(x, n), None, profile))
    }

    fn check_input(&self, n: usize, shape: [usize; 4]) -> Result<()> {
        let [h, w, c] = self.input_hwc;
        if shape[1..] != [h, w, c] || n == 0 {
            return Err(Error::InputShape {
                expected: format!("[N, {h}, {w}, {c}] with N >= 1"),
                got: shape,
            });
        }
        Ok(())
    }

    fn run(
        &self,
        k: &Kernels,
        x: &Tensor,
        trace: Option<&mut Vec<Vec<u8>>>,
        profile: Option<&mut Profile>,
    ) -> Result<Vec<u8>> {
        // The layers' tasks run on a team of spinning threads (see `parallel::team`).
        team::with_team(|| self.run_on_team(k, Input::Float(x), trace, profile))
    }

    fn run_on_team(
        &self,
        k: &Kernels,
        x: Input,
        mut trace: Option<&mut Vec<Vec<u8>>>,
        mut profile: Option<&mut Profile>,
    ) -> Result<Vec<u8>> {
        let mut clock = Instant::now();
        let mut keep = |name: &str, v: &[u8]| {
            if let Some(t) = trace.as_deref_mut() {
                t.push(v.to_vec());
            }
            if let Some(p) = profile.as_deref_mut() {
                p.push((name.to_string(), clock.elapsed()));
                clock = Instant::now();
            }
        };
        let n = match x {
            Input::Float(t) => {
                self.check_input(t.batch(), t.shape)?;
                t.batch()
            }
            Input::Bytes(_, n) => n,
        };
        let mut bufs = self.scratch.take(n * self.largest, n * self.largest_cols);
        let Buffers { a, b, cols } = &mut bufs;
        let mut len = n * self.input_hwc.iter().product::<usize>();
        match x {
            Input::Float(t) => pq::quantize(
                k,
                &t.data,
                self.input.scale,
                self.input.zero_point,
                &mut a[..len],
            ),
            Input::Bytes(x, _) => a[..len].copy_from_slice(x),
        }
        for (name, step) in &self.body {
            let x = &a[..len];
            match step {
                Step::Conv(args, p) => {
                    let (oh, ow) = (args.geom.out_h(), args.geom.out_w());
                    len = n * oh * ow * args.cout;
                    let cols = &mut cols[..n * oh * ow * p.k];
                    pq::conv3x3(k, args, n, x, p, cols, &mut b[..len]);
                }
                Step::Depthwise(args, p) => {
                    len = n * args.geom.out_h() * args.geom.out_w() * args.c;
                    pq::dwconv3x3(k, args, n, x, p, &mut b[..len]);
                }
                Step::Pointwise(p) => {
                    len = len / p.k * p.n;
                    pq::pointwise(k, x, p, &mut b[..len]);
                }
            }
            std::mem::swap(a, b);
            keep(name, &a[..len]);
        }
        let d = self.config.feature_dim();
        let mut features = vec![0u8; n * d];
        let per_image = len / n;
        for (img, f) in a[..len]
            .chunks_exact(per_image)
            .zip(features.chunks_exact_mut(d))
        {
            global_avg_pool(img, d, self.pool_clamp.0, self.pool_clamp.1, f);
        }
        self.scratch.put(bufs);
        keep("pool", &features);
        let Some((fc, _)) = &self.fc else {
            return Ok(features);
        };
        let mut logits = vec![0u8; n * fc.n];
        pq::pointwise(k, &features, fc, &mut logits);
        let Some(sq) = self.softmax else {
            keep("fc", &logits);
            return Ok(logits);
        };
        let mut out = Vec::with_capacity(logits.len());
        for row in logits.chunks_exact(fc.n) {
            let max = *row.iter().max().unwrap_or(&0);
            let e: Vec<f32> = row
                .iter()
                .map(|&q| self.softmax_exp[(max - q) as usize])
                .collect();
            let sum: f32 = e.iter().sum();
            out.extend(e.iter().map(|&v| sq.quantize(v / sum)));
        }
        keep("fc", &logits);
        Ok(out)
    }

    /// Images per pass that keep the working buffers (two uint8 activations of the largest
    /// layer and the largest im2col matrix per image) under 1 GiB.
    pub fn max_batch(&self) -> usize {
        ((1usize << 30) / (self.largest * 2 + self.largest_cols).max(1)).max(1)
    }

    /// Class probabilities (N, classes): the file's softmax bytes × its scale, or, for a file
    /// without a softmax, the f32 softmax of the dequantized logits.
    pub fn probabilities(&self, k: &Kernels, x: &Tensor) -> Result<Vec<f32>> {
        let out = self.forward_with(k, x)?;
        match (&self.fc, &self.softmax) {
            (Some(_), Some(_)) => Ok(out),
            (Some((fc, _)), None) => Ok(crate::layers::softmax::softmax_forward(fc.n, &out)),
            (None, _) => Err(Error::NoClassifier {
                path: self.source.clone(),
                features: self.config.feature_dim(),
            }),
        }
    }

    /// [`Self::forward_u8`] dequantized: probabilities (the softmax's bytes × its scale) for a
    /// file with a softmax, else logits or features.
    pub fn forward_with(&self, k: &Kernels, x: &Tensor) -> Result<Vec<f32>> {
        let q = self.output_quant();
        Ok(self
            .forward_u8(k, x)?
            .into_iter()
            .map(|v| q.dequantize(v))
            .collect())
    }
}

/// What the prepared layers assume of `l`: `weights` weights, one or `cout` weight zero
/// points, an input zero point in `0..=255`.
fn check_layer(l: &QuantLayer, weights: usize, cout: usize) -> std::result::Result<(), String> {
    let zps = l.weight_zero_point.len();
    if l.weight.len() != weights || !(zps == 1 || zps == cout) {
        return Err(format!(
            "{} holds {} weights and {zps} weight zero points; expected {weights} and 1 or {cout}",
            l.name,
            l.weight.len()
        ));
    }
    if !(0..=255).contains(&l.input.zero_point) {
        return Err(format!(
            "{} has input zero point {}",
            l.name, l.input.zero_point
        ));
    }
    Ok(())
}

/// Layer `l` (checked) as a prepared `(k, n)` 1×1 GEMM, `k` at least its own K (zero weight
/// rows past it).
fn qpointwise(l: &QuantLayer, k: usize, n: usize, out: OutputQuant) -> QPointwise {
    // (K, N) row-major: rows past the layer's own K are zero.
    let mut w = l.weight.clone();
    w.resize(k * n, 0);
    QPointwise::new(
        k,
        n,
        w,
        &l.weight_zero_point,
        l.bias.clone(),
        l.input.zero_point,
        out,
    )
}

/// TFLite's requantization of layer `l`: `QuantizeMultiplier(s_x · s_w[c] / s_y)` in f64 (the
/// product in f32 for a uint8 layer, see [`QuantLayer::uint8_input`]), the output zero point
/// and the fused activation's clamp.
fn output_quant(l: &QuantLayer, cout: usize) -> std::result::Result<OutputQuant, String> {
    if !(l.weight_scale.len() == 1 || l.weight_scale.len() == cout) {
        return Err(format!(
            "{} has {} weight scales for {cout} channels",
            l.name,
            l.weight_scale.len()
        ));
    }
    if l.bias.len() != cout {
        return Err(format!(
            "{} has {} biases for {cout} channels",
            l.name,
            l.bias.len()
        ));
    }
    let requant = l
        .weight_scale
        .iter()
        .map(|&sw| {
            let product = if l.uint8_input {
                (l.input.scale * sw) as f64
            } else {
                l.input.scale as f64 * sw as f64
            };
            Requant::from_real(product / l.output.scale as f64)
        })
        .collect();
    let (min, max) = l.output.activation_range(l.activation);
    if min > max {
        return Err(format!(
            "{} has an empty activation range {min}..={max}",
            l.name
        ));
    }
    Ok(OutputQuant {
        requant,
        zero_point: l.output.zero_point,
        min,
        max,
    })
}

/// The largest input or output of any layer of one image, in elements.
fn largest_activation(config: &MobileNetConfig) -> usize {
    config
        .layers()
        .iter()
        .map(|l| {
            l.input
                .iter()
                .product::<usize>()
                .max(l.output.iter().product())
        })
        .max()
        .unwrap_or(1)
}
