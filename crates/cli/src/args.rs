//! Command-line arguments (clap derive). The names here are a contract that scripts rely on:
//! keep them, add freely.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "mobilenet",
    version,
    about = "MobileNet v1 on the CPU: summary, predict, import, bench"
)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Per-layer shapes, parameters and multiply-adds of a configuration, with totals.
    Summary(SummaryArgs),
    /// Classify images (JPEG, PNG, BMP, WebP) with the built-in model or a model file.
    Predict(PredictArgs),
    /// Convert a TensorFlow frozen graph (.pb) or TFLite file into our format.
    Import(ImportArgs),
    /// Time inference end to end and per layer.
    Bench(BenchArgs),
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
    /// Input resolution (≥ 32). Default: 224, or 32 for the cifar variant.
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
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// Options shared by every command that runs a model.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Model file: ours (.safetensors or .json), a TensorFlow frozen graph (.pb) or a TFLite
    /// file (.tflite). Default: the built-in MobileNet v1 1.0/224.
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

#[derive(Debug, clap::Args)]
pub struct PredictArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// How many classes to show per image.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Keep only this central fraction (0, 1] of each side before resizing.
    #[arg(long)]
    pub center_crop: Option<f32>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// One JSON object per image per line: {"path", "top": [{"index", "label", "score"}]}.
    #[arg(long)]
    pub json: bool,
    /// Images to classify.
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// A TensorFlow frozen graph (.pb) or TFLite file (.tflite).
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
}
