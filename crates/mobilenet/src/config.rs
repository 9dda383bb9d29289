//! MobileNet v1 as data: paper Table 1 as a const table, the options a user sets
//! (width multiplier α, input resolution ρ, classes, activation, padding, variant), and the one
//! function that expands them into concrete [`LayerSpec`]s. The model, `summary`, `bench` and
//! the tests all consume those specs; nothing else hard-codes a channel count.
//!
//! Howard et al. 2017, "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
//! Applications", Table 1 (architecture), Tables 4–7 (variants).

use mobilenet_kernels::Padding4;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// One depthwise-separable block of Table 1, at α = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockSpec {
    /// Pointwise output channels.
    pub out: usize,
    /// Depthwise stride.
    pub stride: usize,
}

/// The stem: a dense 3×3 convolution from RGB.
pub const STEM: BlockSpec = BlockSpec { out: 32, stride: 2 };

/// Table 1: the 13 depthwise-separable blocks.
#[rustfmt::skip]
pub const BLOCKS: [BlockSpec; 13] = [
    //        pointwise out   depthwise stride
    BlockSpec { out: 64,      stride: 1 },
    BlockSpec { out: 128,     stride: 2 },
    BlockSpec { out: 128,     stride: 1 },
    BlockSpec { out: 256,     stride: 2 },
    BlockSpec { out: 256,     stride: 1 },
    BlockSpec { out: 512,     stride: 2 },
    BlockSpec { out: 512,     stride: 1 }, // the five 14×14×512 blocks
    BlockSpec { out: 512,     stride: 1 }, //   (removed by the "shallow"
    BlockSpec { out: 512,     stride: 1 }, //    variant, Table 5)
    BlockSpec { out: 512,     stride: 1 },
    BlockSpec { out: 512,     stride: 1 },
    BlockSpec { out: 1024,    stride: 2 },
    // Table 1 prints "Conv dw / s2" here, but its own shapes (7×7 in, 7×7 out) and every
    // released model use stride 1.
    BlockSpec { out: 1024,    stride: 1 },
];

/// Indices into [`BLOCKS`] of the five 14×14×512 blocks that the shallow variant drops.
pub const SHALLOW_REMOVED: std::ops::Range<usize> = 6..11;

/// Smallest channel count after the width multiplier (TF-Slim's `min_depth`).
pub const MIN_DEPTH: usize = 8;

/// Channel count under width multiplier α: `max(floor(c·α), 8)` (TF-Slim `depth()` with
/// `min_depth = 8`; Keras uses `int(c·α)` without the floor of 8, which differs only below α = 0.25).
/// This is the only place α is applied.
pub fn scaled(c: usize, width: f32) -> usize {
    ((c as f64 * width as f64).floor() as usize).max(MIN_DEPTH)
}

/// α as read back from a file's channel counts: the last pointwise layer's `1024·α` when it is
/// known (it is above [`MIN_DEPTH`] for every α ≥ 1/128, where the stem's `32·α` is clamped to
/// 8 below α = 1/4), else the stem's.
pub fn width_from_channels(stem: usize, last_pointwise: Option<usize>) -> f32 {
    match last_pointwise {
        Some(c) if c > 0 => c as f32 / 1024.0,
        _ => stem as f32 / 32.0,
    }
}

/// Which network of the paper to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    /// Table 1 as printed (the default).
    #[default]
    Imagenet,
    /// The classic PyTorch CIFAR-10 port: stem stride 1, 32×32 input, 10 classes; its 2×2
    /// average pool is the global pool at that size.
    Cifar,
    /// Every depthwise-separable pair replaced by one dense 3×3 convolution (Table 4 baseline).
    FullConv,
    /// The five 14×14×512 blocks removed (Table 5).
    Shallow,
}

impl Variant {
    pub const ALL: [Variant; 4] = [
        Variant::Imagenet,
        Variant::Cifar,
        Variant::FullConv,
        Variant::Shallow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Variant::Imagenet => "imagenet",
            Variant::Cifar => "cifar",
            Variant::FullConv => "full-conv",
            Variant::Shallow => "shallow",
        }
    }
}

/// The nonlinearity after every BatchNorm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// max(x, 0), as in the paper.
    Relu,
    /// min(max(x, 0), 6), as in Google's released models.
    #[default]
    Relu6,
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::Relu => "relu",
            Activation::Relu6 => "relu6",
        }
    }

    pub fn clamp(self) -> mobilenet_kernels::Clamp {
        match self {
            Activation::Relu => mobilenet_kernels::Clamp::RELU,
            Activation::Relu6 => mobilenet_kernels::Clamp::RELU6,
        }
    }
}

/// How 3×3 convolutions pad their input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum PaddingMode {
    /// 1 pixel on every side (PyTorch `padding=1`).
    Symmetric,
    /// TensorFlow "SAME": output `ceil(in / stride)`, odd padding at the bottom/right (so at
    /// stride 2 on an even input only the bottom/right are padded).
    #[default]
    TfSame,
}

impl PaddingMode {
    pub fn name(self) -> &'static str {
        match self {
            PaddingMode::Symmetric => "symmetric",
            PaddingMode::TfSame => "tf-same",
        }
    }

    pub fn padding(self, in_h: usize, in_w: usize, stride: usize) -> Padding4 {
        match self {
            PaddingMode::Symmetric => Padding4::symmetric(1),
            PaddingMode::TfSame => Padding4::tf_same(in_h, in_w, stride),
        }
    }
}

/// How input pixels (0..=255) are mapped to the network's input: `(x - mean[c]) / std[c]`
/// for channel `c` (R, G, B). In JSON each of `mean` and `std` is one number (every channel
/// the same, as Google's models) or a list of three.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(from = "NormalizationRepr", into = "NormalizationRepr")]
pub struct Normalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalization {
    /// The same mean and std for every channel.
    pub const fn uniform(mean: f32, std: f32) -> Normalization {
        Normalization {
            mean: [mean; 3],
            std: [std; 3],
        }
    }

    /// TF-Slim / Keras MobileNet: `(x - 127.5) / 127.5`, i.e. [-1, 1].
    pub const TF: Normalization = Normalization::uniform(127.5, 127.5);

    /// torchvision's and timm's ImageNet statistics (×255 for pixels in 0..=255).
    pub const IMAGENET: Normalization = Normalization {
        mean: [0.485 * 255.0, 0.456 * 255.0, 0.406 * 255.0],
        std: [0.229 * 255.0, 0.224 * 255.0, 0.225 * 255.0],
    };

    /// The classic PyTorch CIFAR-10 code's `transforms.Normalize((0.4914, 0.4822, 0.4465),
    /// (0.2023, 0.1994, 0.2010))` (×255).
    pub const CIFAR10_PYTORCH: Normalization = Normalization {
        mean: [0.4914 * 255.0, 0.4822 * 255.0, 0.4465 * 255.0],
        std: [0.2023 * 255.0, 0.1994 * 255.0, 0.2010 * 255.0],
    };

    /// `(v - mean[c]) / std[c]`.
    #[inline]
    pub fn apply(&self, v: f32, c: usize) -> f32 {
        (v - self.mean[c]) / self.std[c]
    }
}

impl Default for Normalization {
    fn default() -> Self {
        Normalization::TF
    }
}

/// One value for all three channels, or one per channel.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(untagged)]
enum PerChannel {
    One(f32),
    Three([f32; 3]),
}

impl PerChannel {
    fn of(v: [f32; 3]) -> PerChannel {
        if v[0] == v[1] && v[1] == v[2] {
            PerChannel::One(v[0])
        } else {
            PerChannel::Three(v)
        }
    }

    fn values(self) -> [f32; 3] {
        match self {
            PerChannel::One(v) => [v; 3],
            PerChannel::Three(v) => v,
        }
    }
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct NormalizationRepr {
    mean: PerChannel,
    std: PerChannel,
}

impl From<NormalizationRepr> for Normalization {
    fn from(r: NormalizationRepr) -> Self {
        Normalization {
            mean: r.mean.values(),
            std: r.std.values(),
        }
    }
}

impl From<Normalization> for NormalizationRepr {
    fn from(n: Normalization) -> Self {
        NormalizationRepr {
            mean: PerChannel::of(n.mean),
            std: PerChannel::of(n.std),
        }
    }
}

fn default_bn_eps() -> f32 {
    1e-3
}

fn default_true() -> bool {
    true
}

/// Most parameters (weights, biases and BatchNorm statistics) a configuration may have: 400 MB
/// of f32. The largest network of the paper's range (α = 4, 1001 classes) has 71 million.
pub const MAX_PARAMS: u64 = 100_000_000;

/// Everything that defines a MobileNet v1 network. Plain data; [`MobileNetConfig::validate`]
/// checks ranges and [`MobileNetConfig::layers`] expands it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MobileNetConfig {
    #[serde(default)]
    pub variant: Variant,
    /// Width multiplier α in (0, 4].
    pub width: f32,
    /// Input height = width in pixels (resolution multiplier ρ = resolution / 224), ≥ 16.
    pub resolution: usize,
    /// Output classes (1001 for Google's models: index 0 is "background"). 0 means no
    /// classifier: a body-only feature extractor whose output is the pooled features (as timm's
    /// `num_classes=0` and Google's embedding extractor).
    pub classes: usize,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default)]
    pub padding: PaddingMode,
    /// BatchNorm epsilon (TF-Slim 1e-3, PyTorch 1e-5).
    #[serde(default = "default_bn_eps")]
    pub bn_eps: f32,
    /// Whether each convolution is followed by BatchNorm (trainable form). `false` means the
    /// convolutions carry a bias instead: BN already folded, as in TFLite files.
    #[serde(default = "default_true")]
    pub batch_norm: bool,
    /// Input pixel normalization the weights were trained with.
    #[serde(default)]
    pub normalization: Normalization,
}

impl Default for MobileNetConfig {
    fn default() -> Self {
        MobileNetConfig::v1(1.0, 224, 1000)
    }
}

impl MobileNetConfig {
    /// The ImageNet network of Table 1 with width α, input `resolution`, and `classes` outputs.
    pub fn v1(width: f32, resolution: usize, classes: usize) -> Self {
        MobileNetConfig {
            variant: Variant::Imagenet,
            width,
            resolution,
            classes,
            activation: Activation::Relu6,
            padding: PaddingMode::TfSame,
            bn_eps: 1e-3,
            batch_norm: true,
            normalization: Normalization::TF,
        }
    }

    /// The classic PyTorch CIFAR-10 network (32×32, 10 classes, ReLU, symmetric padding).
    pub fn cifar() -> Self {
        MobileNetConfig {
            variant: Variant::Cifar,
            resolution: 32,
            classes: 10,
            activation: Activation::Relu,
            padding: PaddingMode::Symmetric,
            bn_eps: 1e-5,
            ..MobileNetConfig::v1(1.0, 32, 10)
        }
    }

    /// Checks every field's range and the parameter count. Run it before [`Self::layers`] or
    /// [`Self::param_shapes`] on a configuration read from a file: they assume valid ranges.
    pub fn validate(&self) -> Result<()> {
        if !(self.width > 0.0 && self.width <= 4.0) {
            return Err(Error::Config(format!(
                "width multiplier {} is outside (0, 4]",
                self.width
            )));
        }
        if self.resolution < 16 {
            return Err(Error::Config(format!(
                "resolution {} is below 16",
                self.resolution
            )));
        }
        if self.resolution > 4096 {
            return Err(Error::Config(format!(
                "resolution {} is above 4096",
                self.resolution
            )));
        }
        if self.classes > 1_000_000 {
            return Err(Error::Config(format!(
                "{} classes is out of range 0..=1000000 (0: no classifier)",
                self.classes
            )));
        }
        if !(self.bn_eps.is_finite() && self.bn_eps >= 0.0) {
            return Err(Error::Config(format!(
                "BatchNorm epsilon {} is not a finite value >= 0",
                self.bn_eps
            )));
        }
        let n = self.normalization;
        let finite = |v: &[f32; 3]| v.iter().all(|x| x.is_finite());
        if !(finite(&n.mean) && finite(&n.std) && n.std.iter().all(|&s| s != 0.0)) {
            return Err(Error::Config(format!(
                "input normalization (x - {:?}) / {:?} is not usable: the means and the stds must \
                 be finite and the stds non-zero",
                n.mean, n.std
            )));
        }
        // Ranges checked: the expansion cannot overflow now.
        let params: u64 = self
            .layers()
            .iter()
            .map(|l| (l.params() + l.bn_running_stats()) as u64)
            .sum();
        if params > MAX_PARAMS {
            return Err(Error::Config(format!(
                "{params} parameters, more than the {MAX_PARAMS} this engine loads"
            )));
        }
        Ok(())
    }

    /// Whether the network ends in a classifier (fc + softmax); without one (`classes` 0) its
    /// output is the globally pooled features.
    pub fn has_classifier(&self) -> bool {
        self.classes > 0
    }

    /// Length of one image's pooled feature vector: the last pointwise layer's channels
    /// (1024·α for the paper's network).
    pub fn feature_dim(&self) -> usize {
        let last = self.blocks().last().map_or(STEM.out, |b| b.out);
        scaled(last, self.width)
    }

    /// Stem stride: 2, except the CIFAR variant's 1.
    fn stem_stride(&self) -> usize {
        match self.variant {
            Variant::Cifar => 1,
            _ => STEM.stride,
        }
    }

    /// The depthwise-separable blocks this variant keeps, at α = 1.
    pub fn blocks(&self) -> Vec<BlockSpec> {
        BLOCKS
            .iter()
            .enumerate()
            .filter(|(i, _)| self.variant != Variant::Shallow || !SHALLOW_REMOVED.contains(i))
            .map(|(_, b)| *b)
            .collect()
    }

    /// Expands the configuration into the network's layers, in order.
    pub fn layers(&self) -> Vec<LayerSpec> {
        let mut out = Vec::new();
        let c0 = scaled(STEM.out, self.width);
        let mut shape = [self.resolution, self.resolution, 3];
        let stem = LayerSpec::conv3x3("stem", LayerKind::Stem, shape, c0, self.stem_stride(), self);
        shape = stem.output;
        out.push(stem);
        for (i, b) in self.blocks().iter().enumerate() {
            let cout = scaled(b.out, self.width);
            if self.variant == Variant::FullConv {
                let conv = LayerSpec::conv3x3(
                    &format!("blocks.{i}.conv"),
                    LayerKind::Conv,
                    shape,
                    cout,
                    b.stride,
                    self,
                );
                shape = conv.output;
                out.push(conv);
            } else {
                let dw = LayerSpec::depthwise(&format!("blocks.{i}.dw"), shape, b.stride, self);
                shape = dw.output;
                out.push(dw);
                let pw = LayerSpec::pointwise(&format!("blocks.{i}.pw"), shape, cout, self);
                shape = pw.output;
                out.push(pw);
            }
        }
        let c = shape[2];
        out.push(LayerSpec {
            name: "pool".into(),
            kind: LayerKind::AvgPool,
            input: shape,
            output: [1, 1, c],
            stride: 1,
            padding: Padding4::default(),
            weights: 0,
            bias: 0,
            batch_norm: false,
            macs: 0,
        });
        if !self.has_classifier() {
            return out;
        }
        out.push(LayerSpec {
            name: "fc".into(),
            kind: LayerKind::Fc,
            input: [1, 1, c],
            output: [1, 1, self.classes],
            stride: 1,
            padding: Padding4::default(),
            weights: c * self.classes,
            bias: self.classes,
            batch_norm: false,
            macs: c as u64 * self.classes as u64,
        });
        out.push(LayerSpec {
            name: "softmax".into(),
            kind: LayerKind::Softmax,
            input: [1, 1, self.classes],
            output: [1, 1, self.classes],
            stride: 1,
            padding: Padding4::default(),
            weights: 0,
            bias: 0,
            batch_norm: false,
            macs: 0,
        });
        out
    }

    /// Every parameter the network holds, with its shape in our layout, in layer order.
    /// Weight files are checked against this list.
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        for l in self.layers() {
            let [_, _, cin] = l.input;
            let cout = l.output[2];
            let weight = match l.kind {
                LayerKind::Stem | LayerKind::Conv => vec![3, 3, cin, cout],
                LayerKind::Depthwise => vec![3, 3, cin],
                LayerKind::Pointwise | LayerKind::Fc => vec![cin, cout],
                LayerKind::AvgPool | LayerKind::Softmax => continue,
            };
            out.push((format!("{}.weight", l.name), weight));
            if l.kind == LayerKind::Fc || !self.batch_norm {
                out.push((format!("{}.bias", l.name), vec![cout]));
            } else {
                for p in BN_PARAMS {
                    out.push((format!("{}.bn.{p}", l.name), vec![cout]));
                }
            }
        }
        out
    }
}

/// A BatchNorm's four tensors, PyTorch names: `weight` = γ, `bias` = β.
pub const BN_PARAMS: [&str; 4] = ["weight", "bias", "running_mean", "running_var"];

/// What a layer computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LayerKind {
    /// Dense 3×3 convolution from the RGB input.
    Stem,
    /// Depthwise 3×3 convolution.
    Depthwise,
    /// Pointwise 1×1 convolution.
    Pointwise,
    /// Dense 3×3 convolution inside the network (full-conv variant).
    Conv,
    /// Global average pool.
    AvgPool,
    /// Fully connected classifier.
    Fc,
    Softmax,
}

impl LayerKind {
    pub fn name(self) -> &'static str {
        match self {
            LayerKind::Stem => "stem",
            LayerKind::Depthwise => "depthwise",
            LayerKind::Pointwise => "pointwise",
            LayerKind::Conv => "conv",
            LayerKind::AvgPool => "avg_pool",
            LayerKind::Fc => "fc",
            LayerKind::Softmax => "softmax",
        }
    }
}

/// One concrete layer: shapes (H, W, C), geometry and costs. Convolutions include their
/// BatchNorm and activation when `batch_norm` is set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerSpec {
    /// Parameter prefix and display name: `stem`, `blocks.3.dw`, `fc`, ...
    pub name: String,
    pub kind: LayerKind,
    /// Input (H, W, C).
    pub input: [usize; 3],
    /// Output (H, W, C).
    pub output: [usize; 3],
    pub stride: usize,
    #[serde(skip)]
    pub padding: Padding4,
    /// Convolution / FC weights (the paper's "parameters" in its shares).
    pub weights: usize,
    /// FC bias (convolutions followed by BatchNorm have none).
    pub bias: usize,
    /// Followed by BatchNorm (γ, β trainable; mean, var running statistics).
    pub batch_norm: bool,
    /// Multiply-adds of the weights (biases, BN, pooling and softmax are not counted, as in the paper).
    pub macs: u64,
}

impl LayerSpec {
    fn conv3x3(
        name: &str,
        kind: LayerKind,
        input: [usize; 3],
        cout: usize,
        stride: usize,
        cfg: &MobileNetConfig,
    ) -> Self {
        let [h, w, cin] = input;
        let padding = cfg.padding.padding(h, w, stride);
        let (oh, ow) = out_hw(h, w, stride, padding);
        LayerSpec {
            name: name.into(),
            kind,
            input,
            output: [oh, ow, cout],
            stride,
            padding,
            weights: 9 * cin * cout,
            bias: if cfg.batch_norm { 0 } else { cout },
            batch_norm: cfg.batch_norm,
            macs: (oh * ow) as u64 * 9 * cin as u64 * cout as u64,
        }
    }

    fn depthwise(name: &str, input: [usize; 3], stride: usize, cfg: &MobileNetConfig) -> Self {
        let [h, w, c] = input;
        let padding = cfg.padding.padding(h, w, stride);
        let (oh, ow) = out_hw(h, w, stride, padding);
        LayerSpec {
            name: name.into(),
            kind: LayerKind::Depthwise,
            input,
            output: [oh, ow, c],
            stride,
            padding,
            weights: 9 * c,
            bias: if cfg.batch_norm { 0 } else { c },
            batch_norm: cfg.batch_norm,
            macs: (oh * ow) as u64 * 9 * c as u64,
        }
    }

    fn pointwise(name: &str, input: [usize; 3], cout: usize, cfg: &MobileNetConfig) -> Self {
        let [h, w, cin] = input;
        LayerSpec {
            name: name.into(),
            kind: LayerKind::Pointwise,
            input,
            output: [h, w, cout],
            stride: 1,
            padding: Padding4::default(),
            weights: cin * cout,
            bias: if cfg.batch_norm { 0 } else { cout },
            batch_norm: cfg.batch_norm,
            macs: (h * w) as u64 * cin as u64 * cout as u64,
        }
    }

    /// Trainable parameters: weights, bias, and BatchNorm γ and β.
    pub fn params(&self) -> usize {
        self.weights
            + self.bias
            + if self.batch_norm {
                2 * self.output[2]
            } else {
                0
            }
    }

    /// BatchNorm running statistics (mean and variance): not trained by gradient descent.
    pub fn bn_running_stats(&self) -> usize {
        if self.batch_norm {
            2 * self.output[2]
        } else {
            0
        }
    }

    /// The kernel geometry of a 3×3 layer.
    pub fn geometry(&self) -> mobilenet_kernels::Conv2dGeometry {
        mobilenet_kernels::Conv2dGeometry {
            in_h: self.input[0],
            in_w: self.input[1],
            stride: self.stride,
            pad: self.padding,
        }
    }
}

fn out_hw(h: usize, w: usize, stride: usize, p: Padding4) -> (usize, usize) {
    (
        (h + p.top + p.bottom - 3) / stride + 1,
        (w + p.left + p.right - 3) / stride + 1,
    )
}
