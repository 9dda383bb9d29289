//! The inference network: built from a [`Checkpoint`] by walking the configuration's
//! [`LayerSpec`]s, folding each BatchNorm into its convolution. `forward` is a straight line
//! through the layers with two ping-pong buffers.
//!
//! Working memory is bounded: those buffers may take at most [`MobileNet::memory_limit`] bytes
//! ([`DEFAULT_MEMORY_LIMIT`] unless set), so a batch larger than [`MobileNet::max_batch`] runs
//! as several passes, and a model of which not even one image fits is an [`Error::TooLarge`].

use mobilenet_kernels::parallel::team;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mobilenet_kernels::{ConvArgs, DwArgs, Kernels};

use crate::config::{LayerKind, LayerSpec, MobileNetConfig};
use crate::error::{Error, Result};
use crate::layers::batch_norm::BatchNorm;
use crate::layers::{pool, softmax, Conv3x3, DepthwiseConv3x3, Linear, Pointwise};
use crate::params::{Checkpoint, Weights};
use crate::tensor::Tensor;

/// One body layer, in network order.
#[derive(Debug, Clone)]
enum Body {
    Conv(Conv3x3),
    Depthwise(DepthwiseConv3x3),
    Pointwise(Pointwise),
}

/// A MobileNet v1 ready for float32 inference.
#[derive(Debug, Clone)]
pub struct MobileNet {
    config: MobileNetConfig,
    specs: Vec<LayerSpec>,
    /// Stem, then the blocks' layers (dw, pw, dw, pw, … or dense convs), in order.
    body: Vec<Body>,
    /// The classifier; `None` for a body-only model (`classes` 0), whose output is the pooled
    /// features.
    fc: Option<Linear>,
    labels: Vec<String>,
    scratch: Scratch,
    /// Where the checkpoint came from, for error messages.
    source: PathBuf,
    memory_limit: u64,
}

/// The default bound on one forward pass's activation buffers: 1 GiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 1 << 30;

/// Activation buffers kept between forward passes. Concurrent callers each get their own
/// (a caller that finds none allocates); a clone of the model starts with none.
#[derive(Debug, Default)]
struct Scratch(std::sync::Mutex<Vec<(Vec<f32>, Vec<f32>)>>);

impl Scratch {
    fn take(&self) -> (Vec<f32>, Vec<f32>) {
        self.0
            .lock()
            .map(|mut v| v.pop())
            .ok()
            .flatten()
            .unwrap_or_default()
    }

    fn put(&self, bufs: (Vec<f32>, Vec<f32>)) {
        if let Ok(mut v) = self.0.lock() {
            v.push(bufs);
        }
    }
}

impl Clone for Scratch {
    fn clone(&self) -> Self {
        Scratch::default()
    }
}

/// Called with each layer's name and output by [`MobileNet::forward_observed`].
type Observer<'o> = dyn FnMut(&str, &[f32]) + 'o;

/// Time spent in each layer by one [`MobileNet::forward_profiled`] call, by `LayerSpec` name.
pub type Profile = Vec<(String, Duration)>;

impl MobileNet {
    /// Builds the network, folding BatchNorm. `source` names where the checkpoint came from
    /// (for error messages).
    pub fn new(ckpt: &Checkpoint, source: &Path) -> Result<MobileNet> {
        ckpt.check(source)?;
        let config = ckpt.config.clone();
        let specs = config.layers();
        let clamp = config.activation.clamp();
        let w = &ckpt.weights;
        let mut body = Vec::new();
        let mut fc = None;
        for spec in &specs {
            let [_, _, cin] = spec.input;
            let cout = spec.output[2];
            match spec.kind {
                LayerKind::Stem | LayerKind::Conv => {
                    let (weight, bias) = folded(w, &config, spec, source)?;
                    let args = ConvArgs {
                        geom: spec.geometry(),
                        cin,
                        cout,
                    };
                    body.push(Body::Conv(Conv3x3 {
                        args,
                        weight,
                        bias,
                        clamp,
                    }));
                }
                LayerKind::Depthwise => {
                    let (weight, bias) = folded(w, &config, spec, source)?;
                    let args = DwArgs {
                        geom: spec.geometry(),
                        c: cin,
                    };
                    body.push(Body::Depthwise(DepthwiseConv3x3 {
                        args,
                        weight,
                        bias,
                        clamp,
                    }));
                }
                LayerKind::Pointwise => {
                    let (weight, bias) = folded(w, &config, spec, source)?;
                    body.push(Body::Pointwise(Pointwise::new(
                        cin, cout, &weight, bias, clamp,
                    )));
                }
                LayerKind::Fc => {
                    let weight = param(w, &format!("{}.weight", spec.name), source)?;
                    let bias = param(w, &format!("{}.bias", spec.name), source)?.to_vec();
                    fc = Some(Linear::new(cin, cout, weight, bias));
                }
                LayerKind::AvgPool | LayerKind::Softmax => {}
            }
        }
        if config.has_classifier() && fc.is_none() {
            return Err(Error::MissingParam {
                path: source.into(),
                name: "fc.weight".into(),
            });
        }
        Ok(MobileNet {
            config,
            specs,
            body,
            fc,
            labels: ckpt.labels.clone(),
            scratch: Scratch::default(),
            source: source.into(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
        })
    }

    /// The bound on one forward pass's activation buffers, in bytes.
    pub fn memory_limit(&self) -> u64 {
        self.memory_limit
    }

    /// Sets [`Self::memory_limit`].
    pub fn set_memory_limit(&mut self, bytes: u64) {
        self.memory_limit = bytes;
    }

    /// f32 values of the largest layer output of one image: each ping-pong buffer holds that
    /// many per image.
    fn activation_len(&self) -> usize {
        self.specs
            .iter()
            .map(|s| s.output.iter().product::<usize>())
            .max()
            .unwrap_or(0)
    }

    /// Bytes of activation buffers one image needs.
    pub fn activation_bytes_per_image(&self) -> u64 {
        2 * self.activation_len() as u64 * std::mem::size_of::<f32>() as u64
    }

    /// The most images one pass computes under the memory limit (larger batches are split);
    /// [`Error::TooLarge`] if not even one image fits.
    pub fn max_batch(&self) -> Result<usize> {
        let per_image = self.activation_bytes_per_image().max(1);
        match self.memory_limit / per_image {
            0 => Err(Error::TooLarge {
                path: self.source.clone(),
                needed: per_image,
                limit: self.memory_limit,
            }),
            n => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }

    /// Images per pass of a batch: as many as fit the memory limit ([`Self::max_batch`]), and
    /// at most as many whose two activation buffers fit half the last-level cache, so that a
    /// layer's output is still cached when the next layer reads it (α 1/224: 6.4 MB an image,
    /// 2 images a pass with a 32 MB L3; the CIFAR network: 512 KB, 32 images). At least one.
    pub fn images_per_pass(&self) -> Result<usize> {
        let per_image = self.activation_bytes_per_image().max(1);
        let cached = (mobilenet_kernels::cpu::caches().l3 as u64 / 2 / per_image).max(1);
        Ok(self
            .max_batch()?
            .min(usize::try_from(cached).unwrap_or(usize::MAX)))
    }

    pub fn config(&self) -> &MobileNetConfig {
        &self.config
    }

    pub fn layers(&self) -> &[LayerSpec] {
        &self.specs
    }

    /// Whether the model ends in a classifier. Without one (`classes` 0), [`Self::forward`]
    /// returns the pooled features, as [`Self::features`] does.
    pub fn has_classifier(&self) -> bool {
        self.fc.is_some()
    }

    /// Length of one image's pooled feature vector (1024·α for the paper's network).
    pub fn feature_dim(&self) -> usize {
        self.config.feature_dim()
    }

    /// Values per image of [`Self::forward`]'s output: the classes, or the feature length of a
    /// body-only model.
    pub fn output_dim(&self) -> usize {
        self.fc.as_ref().map_or(self.feature_dim(), Linear::cout)
    }

    /// Class labels (may be empty).
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// The input shape one image must have: (H, W, 3).
    pub fn input_hwc(&self) -> [usize; 3] {
        self.specs[0].input
    }

    /// Logits (N, classes) for a normalized NHWC batch, using the process-wide kernel table;
    /// for a body-only model, the pooled features (N, D).
    pub fn forward(&self, x: &Tensor) -> Result<Vec<f32>> {
        self.forward_with(mobilenet_kernels::kernels(), x, None)
    }

    /// Softmax probabilities (N, classes); [`Error::NoClassifier`] for a body-only model.
    pub fn predict(&self, x: &Tensor) -> Result<Vec<f32>> {
        self.require_classifier()?;
        Ok(softmax::softmax_forward(
            self.config.classes,
            &self.forward(x)?,
        ))
    }

    /// [`Error::NoClassifier`] unless the model has a classifier.
    pub fn require_classifier(&self) -> Result<()> {
        match self.fc {
            Some(_) => Ok(()),
            None => Err(Error::NoClassifier {
                path: self.source.clone(),
                features: self.feature_dim(),
            }),
        }
    }

    /// The globally pooled features (N, D) the classifier would read, D = [`Self::feature_dim`]:
    /// the image embeddings. Works with and without a classifier.
    pub fn features(&self, x: &Tensor) -> Result<Vec<f32>> {
        self.features_with(mobilenet_kernels::kernels(), x)
    }

    /// [`Self::features`] with the kernel table `k`.
    pub fn features_with(&self, k: &Kernels, x: &Tensor) -> Result<Vec<f32>> {
        self.run(k, x, None, false, None)
    }

    /// [`Self::forward_with`] that shows `observe` every layer's output (the body's under
    /// their `LayerSpec` names, then `pool` and `fc`) of each pass: what post-training
    /// quantization calibrates on.
    pub fn forward_observed(
        &self,
        k: &Kernels,
        x: &Tensor,
        observe: &mut dyn FnMut(&str, &[f32]),
    ) -> Result<Vec<f32>> {
        self.run(k, x, None, true, Some(observe))
    }

    /// Logits, with the time of each layer appended to `profile` under its `LayerSpec` name.
    pub fn forward_profiled(
        &self,
        k: &Kernels,
        x: &Tensor,
        profile: &mut Profile,
    ) -> Result<Vec<f32>> {
        self.forward_with(k, x, Some(profile))
    }

    /// Logits (or a body-only model's features) computed with the kernel table `k`,
    /// [`Self::images_per_pass`] images per pass. With a `profile`, each layer's times of all passes
    /// are summed into one entry.
    pub fn forward_with(
        &self,
        k: &Kernels,
        x: &Tensor,
        profile: Option<&mut Profile>,
    ) -> Result<Vec<f32>> {
        self.run(k, x, profile, true, None)
    }

    /// Runs the network in passes of at most [`Self::images_per_pass`] images, through the classifier
    /// when `classify` and the model has one, else up to the pooled features.
    fn run<'o>(
        &self,
        k: &Kernels,
        x: &Tensor,
        mut profile: Option<&mut Profile>,
        classify: bool,
        mut observe: Option<&mut Observer<'o>>,
    ) -> Result<Vec<f32>> {
        let [h, w, c] = self.input_hwc();
        let n = x.batch();
        if x.shape[1..] != [h, w, c] || n == 0 {
            return Err(Error::InputShape {
                expected: format!("[N, {h}, {w}, {c}] with N >= 1"),
                got: x.shape,
            });
        }
        let per_pass = self.images_per_pass()?.min(n);
        let fc = self.fc.as_ref().filter(|_| classify);
        let out_dim = fc.map_or(self.feature_dim(), Linear::cout);
        let mut out = Vec::with_capacity(n * out_dim);
        let start = profile.as_deref().map_or(0, Vec::len);
        // The layers' tasks run on a team of spinning threads (see `parallel::team`).
        team::with_team(|| {
            for (i, x) in x.data.chunks(per_pass * h * w * c).enumerate() {
                let mut times = Profile::new();
                let m = x.len() / (h * w * c);
                let timed = profile.is_some().then_some(&mut times);
                out.extend(self.forward_pass(k, m, x, fc, timed, observe.as_deref_mut()));
                if let Some(p) = profile.as_deref_mut() {
                    if i == 0 {
                        p.extend(times);
                    } else {
                        for (acc, (_, d)) in p[start..].iter_mut().zip(times) {
                            acc.1 += d;
                        }
                    }
                }
            }
        });
        Ok(out)
    }

    /// One pass over `n` images `x` (checked by the caller to fit the memory limit), ending
    /// with the classifier `fc` if given, else with the pooled features.
    fn forward_pass<'o>(
        &self,
        k: &Kernels,
        n: usize,
        x: &[f32],
        fc: Option<&Linear>,
        mut profile: Option<&mut Profile>,
        mut observe: Option<&mut Observer<'o>>,
    ) -> Vec<f32> {
        let max_len = n * self.activation_len();
        // Two ping-pong activation buffers, reused across calls (no zeroing, no page faults).
        let (mut a, mut b) = self.scratch.take();
        a.resize(max_len, 0.0);
        b.resize(max_len, 0.0);
        let mut cur_len = 0;
        let mut t = Instant::now();
        let mut mark = |name: &str, t: &mut Instant| {
            if let Some(p) = profile.as_deref_mut() {
                let now = Instant::now();
                p.push((name.to_string(), now - *t));
                *t = now;
            }
        };
        for (i, (layer, spec)) in self.body.iter().zip(&self.specs).enumerate() {
            let out_len = n * spec.output.iter().product::<usize>();
            // The first layer reads the caller's input directly.
            let (x, y) = (if i == 0 { x } else { &a[..cur_len] }, &mut b[..out_len]);
            match layer {
                Body::Conv(l) => l.forward(k, n, x, y),
                Body::Depthwise(l) => l.forward(k, n, x, y),
                Body::Pointwise(l) => l.forward(k, n * spec.input[0] * spec.input[1], x, y),
            }
            std::mem::swap(&mut a, &mut b);
            cur_len = out_len;
            mark(&spec.name, &mut t);
            if let Some(o) = observe.as_deref_mut() {
                o(&spec.name, &a[..cur_len]);
            }
        }
        let c = self.feature_dim();
        let mut pooled = vec![0.0f32; n * c];
        pool::global_avg_pool_forward(k, n, c, &a[..cur_len], &mut pooled);
        mark("pool", &mut t);
        self.scratch.put((a, b));
        if let Some(o) = observe.as_deref_mut() {
            o("pool", &pooled);
        }
        let Some(fc) = fc else {
            return pooled;
        };
        let mut logits = vec![0.0f32; n * fc.cout()];
        fc.forward(k, n, &pooled, &mut logits);
        mark("fc", &mut t);
        if let Some(o) = observe {
            o("fc", &logits);
        }
        logits
    }
}

/// A checked parameter's data (the checkpoint was validated against the config already).
fn param<'a>(w: &'a Weights, name: &str, source: &Path) -> Result<&'a [f32]> {
    w.get(name)
        .map(|p| p.data.as_slice())
        .ok_or_else(|| Error::MissingParam {
            path: source.into(),
            name: name.into(),
        })
}

/// The layer's weight with its BatchNorm folded in, and the resulting bias; or the weight and
/// the stored bias of a folded (`batch_norm: false`) checkpoint.
pub(crate) fn folded(
    w: &Weights,
    config: &MobileNetConfig,
    spec: &LayerSpec,
    source: &Path,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let name = &spec.name;
    let p = |suffix: &str| param(w, &format!("{name}.{suffix}"), source);
    let mut weight = p("weight")?.to_vec();
    if !config.batch_norm {
        return Ok((weight, p("bias")?.to_vec()));
    }
    let bn = BatchNorm {
        gamma: p("bn.weight")?,
        beta: p("bn.bias")?,
        mean: p("bn.running_mean")?,
        var: p("bn.running_var")?,
        eps: config.bn_eps,
    };
    let bias = bn.fold(&mut weight);
    Ok((weight, bias))
}
