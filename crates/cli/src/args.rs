//! Command-line arguments (clap derive). The names here are a contract that scripts rely on:
//! keep them, add freely.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "mobilenet",
    version,
    about = "MobileNet v1 on the CPU: summary, predict, embed, import, bench, train, eval"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Per-layer shapes, parameters and multiply-adds of a configuration, with totals.
    Summary(SummaryArgs),
    /// Classify images (JPEG, PNG, BMP, WebP) or folders of them with the built-in model or a
    /// model file.
    Predict(PredictArgs),
    /// Image embeddings: the globally pooled features (1024·α values) before the classifier.
    Embed(EmbedArgs),
    /// Convert a model of any format `--model` takes (TF .pb, TFLite, ONNX, PyTorch, Keras) into
    /// our format.
    Import(ImportArgs),
    /// Write a model in another framework's format: ONNX, TFLite, or safetensors (ours or a
    /// PyTorch state dict).
    Export(ExportArgs),
    /// Time inference end to end and per layer.
    Bench(BenchArgs),
    /// Post-training int8 quantization of a float model, calibrated on a few images, written
    /// as a full-integer TFLite file (per-channel weights) that `predict`, `bench` and LiteRT run.
    Quantize(QuantizeArgs),
    /// Train (from scratch or fine-tune) on an image folder or CIFAR-10; resumable.
    Train(TrainArgs),
    /// Top-1, top-5, loss and confusion matrix of a model on a labelled data set.
    Eval(EvalArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VariantArg {
    Imagenet,
    Cifar,
    FullConv,
    Shallow,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ActivationArg {
    Relu,
    Relu6,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PaddingArg {
    Symmetric,
    TfSame,
}

/// The architecture options shared by `summary` and `bench`.
#[derive(Debug, clap::Args)]
pub struct ArchArgs {
    /// Width multiplier α in (0, 4].
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f32,
    /// Input resolution (≥ 16). Default: 224, or 32 for the cifar variant.
    #[arg(long)]
    pub resolution: Option<usize>,
    /// Number of classes. Default: 1000, or 10 for the cifar variant.
    #[arg(long)]
    pub classes: Option<usize>,
    #[arg(long, value_enum, default_value_t = VariantArg::Imagenet)]
    pub variant: VariantArg,
    /// Default: relu6, or relu for the cifar variant.
    #[arg(long, value_enum)]
    pub activation: Option<ActivationArg>,
    /// Default: tf-same, or symmetric for the cifar variant.
    #[arg(long, value_enum)]
    pub padding: Option<PaddingArg>,
}

#[derive(Debug, clap::Args)]
pub struct SummaryArgs {
    #[command(flatten)]
    pub arch: ArchArgs,
    /// Summarize the configuration of this model file instead of the architecture flags.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Options shared by every command that runs a model.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Model file: ours (.safetensors or .json), a PyTorch state dict (.pt/.pth, or
    /// .safetensors with the PyTorch CIFAR code's or timm's names), Keras weights (.h5,
    /// .weights.h5), a TensorFlow frozen graph (.pb), TFLite (.tflite) or ONNX (.onnx);
    /// recognised by content. Default: the built-in MobileNet v1 1.0/224.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Class labels, one per line (default: the model's own, or ImageNet's for 1001 classes).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Kernel instruction set: reference, avx2, avx512 (default: the best this CPU runs).
    #[arg(long)]
    pub isa: Option<String>,
}

/// Options shared by the commands that read images (`predict`, `embed`).
#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    /// Keep only this central fraction (0, 1] of each side before resizing.
    #[arg(long)]
    pub center_crop: Option<f32>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// No progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(long, short)]
    pub quiet: bool,
    /// Image files and directories. A directory is walked recursively in sorted order, taking
    /// the files whose content is JPEG, PNG, BMP or WebP; the others are skipped and counted.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PredictFormat {
    /// A block per image: the path, then one line per class (score, index, label).
    Text,
    /// One JSON object per image per line: {"path", "top": [{"index", "label", "score"}]}.
    Json,
    /// A header row, then per image: path, then index, label, score for each rank.
    Csv,
}

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// How many classes to show per image.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// One JSON object per image per line: {"path", "top": [{"index", "label", "score"}]}
    /// (the same as `--format json`).
    #[arg(long)]
    pub json: bool,
    /// Output format (default: text on stdout, json lines with `--output`).
    #[arg(long, value_enum)]
    pub format: Option<PredictFormat>,
    /// Write the results to this file instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Run a quantized TFLite model dequantized in float32 instead of on the native int8 path
    /// (whose scores are the model's own uint8 softmax × its scale).
    #[arg(long)]
    pub float: bool,
    #[command(flatten)]
    pub images: ImageArgs,
}

#[derive(Debug, clap::Args)]
pub struct EmbedArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// One JSON object per image per line: {"path", "embedding": [floats]}.
    #[arg(long)]
    pub json: bool,
    /// Write the embeddings as a float32 numpy array of shape (N, D) to this `.npy` file, and
    /// the image of each row, one path per line, to the same name with `.txt`.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub images: ImageArgs,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A model file of any format `--model` takes, recognised by content.
    pub input: PathBuf,
    /// Output path; writes `<stem>.safetensors` and `<stem>.json`.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Class labels to store with the model (default: ImageNet's for 1001 classes).
    #[arg(long)]
    pub labels: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Run a quantized TFLite model dequantized in float32 instead of on the native int8 path.
    #[arg(long)]
    pub float: bool,
    /// Benchmark a randomly initialised network of this architecture instead of a model file.
    #[arg(long)]
    pub random: bool,
    #[command(flatten)]
    pub arch: ArchArgs,
    /// Images per forward pass.
    #[arg(long, default_value_t = 1)]
    pub batch: usize,
    /// Timed forward passes (after warm-up).
    #[arg(long, default_value_t = 200)]
    pub iters: usize,
    /// Stop timing after this many seconds even if fewer iterations ran.
    #[arg(long, default_value_t = 10.0)]
    pub max_seconds: f64,
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Time the paper's 16 α × resolution pairs (random weights, 1001 classes, `--batch`
    /// images, `--iters` / `--max-seconds` each) beside Google's published ImageNet top-1.
    #[arg(long)]
    pub sweep: bool,
    /// With the sweep (implied): name the most accurate configuration whose median latency
    /// fits in this many milliseconds.
    #[arg(long)]
    pub budget_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TrainVariantArg {
    Cifar,
    Imagenet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OptimizerArg {
    Sgd,
    Rmsprop,
    Adamw,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScheduleArg {
    Constant,
    Step,
    Cosine,
    OneCycle,
    Exponential,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AugmentArg {
    /// Random crop after 4-pixel zero padding + horizontal flip (CIFAR).
    CropFlip,
    /// Random resized crop + horizontal flip (ImageNet).
    ResizedCrop,
    None,
}

#[derive(Debug, clap::Args)]
pub struct TrainArgs {
    /// Data set: a folder with `train/` and `test/` image folders (train/<class>/*.jpg|png) or
    /// the CIFAR-10 binary files (data_batch_1..5.bin, test_batch.bin).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output directory (checkpoint, model.json, metrics.jsonl, curves.png).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Continue the run stored in this directory (writing on into it, or into --out).
    #[arg(long)]
    pub resume: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = TrainVariantArg::Cifar)]
    pub variant: TrainVariantArg,
    /// Width multiplier α.
    #[arg(long, default_value_t = 1.0)]
    pub alpha: f32,
    /// Input resolution (default 32 for cifar, 224 for imagenet, or the --init model's).
    #[arg(long)]
    pub resolution: Option<usize>,
    /// Classes (default: the data set's class count).
    #[arg(long)]
    pub classes: Option<usize>,
    /// Total epochs (with --resume: the new total).
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 128)]
    pub batch_size: usize,
    /// Peak learning rate.
    #[arg(long, default_value_t = 0.1)]
    pub lr: f32,
    #[arg(long, value_enum, default_value_t = OptimizerArg::Sgd)]
    pub optimizer: OptimizerArg,
    /// Momentum (SGD, RMSProp).
    #[arg(long, default_value_t = 0.9)]
    pub momentum: f32,
    /// Nesterov momentum (SGD).
    #[arg(long)]
    pub nesterov: bool,
    /// RMSProp decay ρ (TensorFlow's `decay`).
    #[arg(long, default_value_t = 0.9)]
    pub rmsprop_decay: f32,
    /// ε: inside the square root for RMSProp (TF-Slim used 1.0), outside for AdamW.
    #[arg(long)]
    pub eps: Option<f32>,
    #[arg(long, value_enum, default_value_t = ScheduleArg::Cosine)]
    pub schedule: ScheduleArg,
    /// Step / exponential schedules: decay every this many epochs (default 30 / 2.5).
    #[arg(long)]
    pub decay_every: Option<f32>,
    /// Step / exponential schedules: the factor (default 0.1 / 0.94).
    #[arg(long)]
    pub decay_gamma: Option<f32>,
    /// Linear warm-up length in epochs.
    #[arg(long, default_value_t = 0.0)]
    pub warmup_epochs: f32,
    /// Weight decay (L2 for SGD/RMSProp, decoupled for AdamW).
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f32,
    /// Decay every parameter (classic CIFAR recipe). Default: the paper's rule, none on
    /// depthwise filters, BatchNorm parameters and biases.
    #[arg(long)]
    pub decay_all: bool,
    #[arg(long, default_value_t = 0.0)]
    pub label_smoothing: f32,
    /// Clip gradients to this global L2 norm.
    #[arg(long)]
    pub clip_grad_norm: Option<f32>,
    /// Training augmentation (default: crop-flip for cifar, resized-crop for imagenet).
    #[arg(long, value_enum)]
    pub augment: Option<AugmentArg>,
    /// Cutout: zero a random N×N square of each training sample (0: off; 16 for CIFAR-10).
    #[arg(long, default_value_t = 0)]
    pub cutout: usize,
    /// Progressive resizing: `R:E[,R:E…]` trains epochs up to E (1-based) at R × R pixels, each
    /// stage after the one before; later epochs, evaluation and the saved model use the model's
    /// resolution. E.g. `24:6` on CIFAR-10: epochs 1–6 on 24 × 24 (about 0.56× the work).
    #[arg(long, value_name = "R:E[,R:E…]")]
    pub progressive_resize: Option<String>,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Worker threads (default: all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Kernel instruction set: reference, avx2, avx512.
    #[arg(long)]
    pub isa: Option<String>,
    /// Start from this model (ours, .pb, .tflite); the classifier is replaced when the class
    /// count differs or --classes is given.
    #[arg(long)]
    pub init: Option<PathBuf>,
    /// Train only the classifier.
    #[arg(long)]
    pub freeze_body: bool,
    /// Stop after this many steps in total.
    #[arg(long)]
    pub max_steps: Option<u64>,
    /// Use only this many training images (a balanced subset).
    #[arg(long)]
    pub limit_train: Option<usize>,
    /// Use only this many test images (a balanced subset).
    #[arg(long)]
    pub limit_test: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    Onnx,
    /// A float32 TFLite flatbuffer (BatchNorm folded, activations fused), for LiteRT.
    Tflite,
    /// A safetensors file: ours (with its .json) or, with `--names`, a PyTorch state dict.
    Safetensors,
}

/// Whose parameter names (and layouts) a safetensors export uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NamesArg {
    /// Ours: `model.safetensors` + `model.json`, loadable everywhere `--model` is.
    Ours,
    /// The classic PyTorch CIFAR-10 code (`conv1`, `layers.N.conv1`, `linear`, OIHW).
    PytorchCifar,
    /// timm's `mobilenetv1_100` (`conv_stem`, `blocks.S.J.conv_dw`, `classifier`, OIHW).
    Timm,
}

#[derive(Debug, clap::Args)]
pub struct ExportArgs {
    /// Model file (any format `--model` takes; default: the built-in model).
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Class labels to embed, one per line (default: the model's own).
    #[arg(long)]
    pub labels: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = ExportFormat::Onnx)]
    pub format: ExportFormat,
    #[arg(long, short)]
    pub output: PathBuf,
    /// Fold BatchNorm into the convolutions instead of writing BatchNormalization nodes.
    #[arg(long)]
    pub fold_batch_norm: bool,
    /// Export a randomly initialised network of this architecture (the weights
    /// `bench --random` times) instead of a model file.
    #[arg(long, conflicts_with = "model")]
    pub random: bool,
    #[command(flatten)]
    pub arch: ArchArgs,
    /// Parameter names of a safetensors export: ours, or a PyTorch code base's state dict
    /// (which its `nn.Module` loads with `load_state_dict(strict=True)`).
    #[arg(long, value_enum, default_value_t = NamesArg::Ours)]
    pub names: NamesArg,
}

#[derive(Debug, clap::Args)]
pub struct QuantizeArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Calibration images or folders (a few dozen representative images are enough).
    #[arg(long, required = true, num_args = 1..)]
    pub calibration: Vec<PathBuf>,
    /// Use at most this many calibration images (evenly spread over those found).
    #[arg(long, default_value_t = 100)]
    pub max_images: usize,
    /// Also report the top-1 agreement with the float model on these images or folders
    /// (default: on the calibration images).
    #[arg(long, num_args = 1..)]
    pub check: Vec<PathBuf>,
    /// The int8 TFLite file to write.
    #[arg(long, short)]
    pub output: PathBuf,
    /// Bits per weight: 8 (−127..127), or 7 (−63..63), which CPUs without VNNI multiply
    /// twice as many of per instruction (`vpmaddubsw`), at a small cost in precision.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(7..=8))]
    pub weight_bits: u32,
    /// The report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// `DIR/test` (image folders or CIFAR-10's test_batch.bin), or DIR itself when it holds
    /// class folders.
    #[arg(long)]
    pub data: PathBuf,
    #[arg(long, default_value_t = 100)]
    pub batch_size: usize,
    /// Evaluate only this many images (a balanced subset).
    #[arg(long)]
    pub limit: Option<usize>,
    /// One JSON object: top1, top5, loss, images, confusion.
    #[arg(long)]
    pub json: bool,
    /// Test-time augmentation: average each image's logits with its mirror image's.
    #[arg(long)]
    pub tta_flip: bool,
}
