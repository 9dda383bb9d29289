//! `mobilenet quantize`: post-training int8 quantization of a float model, written as an int8
//! TFLite file, with its top-1 agreement with the float model.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use mobilenet::image::{files, load_input, Preprocess};
use mobilenet::io::tflite::export_tflite_quantized;
use mobilenet::quant::{quantize_with, QuantModel};
use mobilenet::{MobileNet, Tensor};

use crate::args::QuantizeArgs;
use crate::output;

pub fn run(a: QuantizeArgs) -> Result<ExitCode> {
    let kernels = super::select_isa(a.run.isa.as_deref())?;
    let (ckpt, source) = super::load_model(&a.run)?;
    let float = MobileNet::new(&ckpt, &source)?;
    let pre = Preprocess {
        size: ckpt.config.resolution,
        center_crop: None,
        normalization: ckpt.config.normalization,
    };
    let calibration = load(&a.calibration, a.max_images, &pre, "--calibration")?;
    let q = mobilenet::with_threads(a.run.threads, || {
        quantize_with(kernels, &ckpt, &calibration.1, &source, a.weight_bits)
    })??;
    export_tflite_quantized(&q, &a.output)?;
    let calibrated = calibration.0.len();
    let check = if a.check.is_empty() {
        calibration
    } else {
        load(&a.check, usize::MAX, &pre, "--check")?
    };
    let int8 = QuantModel::new(&q, &a.output)?;
    let (agree, n) = mobilenet::with_threads(a.run.threads, || -> Result<(usize, usize)> {
        let want = float.forward_with(kernels, &check.1, None)?;
        let got = int8.forward_with(kernels, &check.1)?;
        let dim = want.len() / check.0.len();
        let same = want
            .chunks(dim)
            .zip(got.chunks(dim))
            .filter(|(w, g)| argmax(w) == argmax(g))
            .count();
        Ok((same, check.0.len()))
    })??;
    let what = if float.config().classes > 0 {
        "top-1"
    } else {
        "largest feature"
    };
    if a.json {
        let v = serde_json::json!({
            "model": source.display().to_string(),
            "output": a.output.display().to_string(),
            "calibration_images": calibrated,
            "check_images": n,
            "top1_agreement": agree as f64 / n as f64,
            "weight_bits": a.weight_bits,
        });
        output::print(&format!("{v}\n"))?;
    } else {
        output::print(&format!(
            "{} → {} (int8 TFLite: per-channel {}-bit weights, int8 activations calibrated on \
             {} images)\n{what} agreement with the float model on {n} images: {agree}/{n} \
             ({:.1} %)\n",
            source.display(),
            a.output.display(),
            a.weight_bits,
            calibrated,
            100.0 * agree as f64 / n as f64
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Up to `max` of the images `paths` name, evenly spread, decoded as the model reads them.
fn load(
    paths: &[PathBuf],
    max: usize,
    pre: &Preprocess,
    flag: &str,
) -> Result<(Vec<PathBuf>, Tensor)> {
    let found = files::collect(paths)?.files;
    if found.is_empty() {
        bail!(
            "{flag}: no images in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let take = found.len().min(max.max(1));
    let chosen: Vec<PathBuf> = (0..take)
        .map(|i| found[i * found.len() / take].clone())
        .collect();
    let inputs = chosen
        .iter()
        .map(|p| load_input(p, pre).with_context(|| format!("{flag} image")))
        .collect::<Result<Vec<_>>>()?;
    Ok((chosen, Tensor::stack(&inputs)))
}

fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |b, i| if v[i] > v[b] { i } else { b })
}
