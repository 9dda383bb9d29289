//! `mobilenet export`: write a model in another framework's format.

use std::process::ExitCode;

use anyhow::Result;
use mobilenet::io::onnx::{export_onnx, OnnxOptions, OPSET};

use crate::args::{ExportArgs, ExportFormat};
use crate::output;

pub fn run(a: ExportArgs) -> Result<ExitCode> {
    let (ckpt, name) = super::load_model_from(a.model.as_deref(), a.labels.as_deref())?;
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
    }
    Ok(ExitCode::SUCCESS)
}
