//! One file per subcommand: resolve arguments into library values, call the library, print.

mod bench;
mod embed;
mod engine;
mod eval;
mod export;
pub mod images;
mod import;
mod predict;
mod quantize;
mod summary;
mod train;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context, Result};
use mobilenet::{Checkpoint, MobileNetConfig};
use mobilenet_kernels::{Isa, Kernels};

use crate::args::{ActivationArg, ArchArgs, Args, Command, PaddingArg, RunArgs, VariantArg};

pub fn run(args: Args) -> Result<ExitCode> {
    match args.command {
        Command::Summary(a) => summary::run(a),
        Command::Predict(a) => predict::run(a),
        Command::Embed(a) => embed::run(a),
        Command::Import(a) => import::run(a),
        Command::Export(a) => export::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Quantize(a) => quantize::run(a),
        Command::Train(a) => train::run(a),
        Command::Eval(a) => eval::run(a),
    }
}

/// A configuration from the architecture flags, with the variant's defaults filled in.
pub fn arch_config(a: &ArchArgs) -> Result<MobileNetConfig> {
    use mobilenet::{Activation, PaddingMode, Variant};
    let mut c = match a.variant {
        VariantArg::Cifar => MobileNetConfig::cifar(),
        _ => MobileNetConfig::v1(1.0, 224, 1000),
    };
    c.variant = match a.variant {
        VariantArg::Imagenet => Variant::Imagenet,
        VariantArg::Cifar => Variant::Cifar,
        VariantArg::FullConv => Variant::FullConv,
        VariantArg::Shallow => Variant::Shallow,
    };
    c.width = a.alpha;
    c.resolution = a.resolution.unwrap_or(c.resolution);
    c.classes = a.classes.unwrap_or(c.classes);
    if let Some(act) = a.activation {
        c.activation = match act {
            ActivationArg::Relu => Activation::Relu,
            ActivationArg::Relu6 => Activation::Relu6,
        };
    }
    if let Some(p) = a.padding {
        c.padding = match p {
            PaddingArg::Symmetric => PaddingMode::Symmetric,
            PaddingArg::TfSame => PaddingMode::TfSame,
        };
    }
    c.validate()?;
    Ok(c)
}

/// Reads a label file: one label per line.
/// A randomly initialised model of `config` (seed 1: `bench --random` and `export --random`
/// make the same weights).
pub fn random_model(config: MobileNetConfig) -> Checkpoint {
    Checkpoint {
        weights: mobilenet::Weights::random(&config, 1),
        config,
        labels: vec![],
    }
}

pub fn read_labels(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading labels from {}", path.display()))?;
    Ok(mobilenet::pretrained::parse_labels(&text))
}

/// Attaches `--labels`, or ImageNet's labels to a 1001-class model that has none.
pub fn attach_labels(ckpt: &mut Checkpoint, labels: Option<&Path>) -> Result<()> {
    if let Some(path) = labels {
        let l = read_labels(path)?;
        if l.len() != ckpt.config.classes {
            bail!(
                "{}: {} labels for a model of {} classes",
                path.display(),
                l.len(),
                ckpt.config.classes
            );
        }
        ckpt.labels = l;
    } else if ckpt.labels.is_empty()
        && ckpt.config.classes == mobilenet::pretrained::IMAGENET_CLASSES
    {
        ckpt.labels = mobilenet::pretrained::imagenet_labels();
    }
    Ok(())
}

/// The model named by `--model`, or the built-in one; plus the name to show for it.
pub fn load_model(run: &RunArgs) -> Result<(Checkpoint, PathBuf)> {
    load_model_from(run.model.as_deref(), run.labels.as_deref())
}

/// [`load_model`] from the two paths alone (for commands without the run flags).
pub fn load_model_from(
    model: Option<&Path>,
    labels: Option<&Path>,
) -> Result<(Checkpoint, PathBuf)> {
    let (mut ckpt, name) = match model {
        Some(path) => (mobilenet::io::load(path)?, path.to_path_buf()),
        None => (
            mobilenet::pretrained::builtin()?,
            PathBuf::from(mobilenet::pretrained::BUILTIN_NAME),
        ),
    };
    attach_labels(&mut ckpt, labels)?;
    Ok((ckpt, name))
}

/// Fixes the kernel table for this process from `--isa`, or else from `MOBILENET_ISA`; either
/// naming no ISA this CPU runs is an error.
pub fn select_isa(isa: Option<&str>) -> Result<&'static Kernels> {
    let chosen = match isa {
        Some(name) => Some(Isa::parse_supported(name).map_err(|e| anyhow!("--isa {name}: {e}"))?),
        None => {
            mobilenet_kernels::dispatch::env_isa().map_err(|e| anyhow!("MOBILENET_ISA: {e}"))?
        }
    };
    if let Some(isa) = chosen {
        mobilenet_kernels::dispatch::select_isa(isa);
    }
    Ok(mobilenet_kernels::kernels())
}
