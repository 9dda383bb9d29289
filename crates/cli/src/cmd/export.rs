//! `mobilenet export`: write a model in another framework's format.

use std::process::ExitCode;

use anyhow::{bail, Result};
use mobilenet::io::onnx::{export_onnx, OnnxOptions, OPSET};
use mobilenet::io::tflite::export_tflite;
use mobilenet::io::torch::{export_state_dict, TorchFamily};

use crate::args::{ExportArgs, ExportFormat, NamesArg};
use crate::output;

pub fn run(a: ExportArgs) -> Result<ExitCode> {
    if a.names != NamesArg::Ours && a.format != ExportFormat::Safetensors {
        bail!("--names applies to --format safetensors only");
    }
    let (ckpt, name) = if a.random {
        let mut ckpt = super::random_model(super::arch_config(&a.arch)?);
        super::attach_labels(&mut ckpt, a.labels.as_deref())?;
        (ckpt, std::path::PathBuf::from("<random>"))
    } else {
        super::load_model_from(a.model.as_deref(), a.labels.as_deref())?
    };
    match a.format {
        ExportFormat::Onnx => {
            let opts = OnnxOptions {
                fold_batch_norm: a.fold_batch_norm,
            };
            export_onnx(&ckpt, &a.output, opts)?;
            let c = &ckpt.config;
            output::print(&format!(
                "{} → {} (ONNX opset {OPSET}, input (N, 3, {r}, {r}), BatchNorm {})\n",
                name.display(),
                a.output.display(),
                if a.fold_batch_norm || !c.batch_norm {
                    "folded"
                } else {
                    "kept"
                },
                r = c.resolution,
            ))?;
        }
        ExportFormat::Tflite => {
            export_tflite(&ckpt, &a.output)?;
            let r = ckpt.config.resolution;
            output::print(&format!(
                "{} → {} (TFLite float32, input (1, {r}, {r}, 3), BatchNorm folded)\n",
                name.display(),
                a.output.display(),
            ))?;
        }
        ExportFormat::Safetensors => {
            let family = match a.names {
                NamesArg::Ours => None,
                NamesArg::PytorchCifar => Some(TorchFamily::PytorchCifar),
                NamesArg::Timm => Some(TorchFamily::Timm),
            };
            let ckpt = if a.fold_batch_norm {
                ckpt.fold_batch_norm()
            } else {
                ckpt
            };
            let what = match family {
                None => {
                    mobilenet::io::native::save(&ckpt, &a.output, Some(&name.to_string_lossy()))?;
                    let (st, json) = mobilenet::io::native::companion_paths(&a.output);
                    format!("{} + {} (ours)", st.display(), json.display())
                }
                Some(f) => {
                    export_state_dict(&ckpt, f, &a.output)?;
                    format!(
                        "{} (PyTorch state dict, {} names, BatchNorm unfolded)",
                        a.output.display(),
                        f.name()
                    )
                }
            };
            output::print(&format!("{} → {what}\n", name.display()))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
