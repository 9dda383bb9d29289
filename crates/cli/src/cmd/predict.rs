//! `mobilenet predict`: classify images, batched.

use std::process::ExitCode;

use anyhow::Result;
use mobilenet::image::{load_input, Preprocess};
use mobilenet::{top_k, MobileNet, Tensor};

use crate::args::PredictArgs;
use crate::output;

pub fn run(a: PredictArgs) -> Result<ExitCode> {
    if let Some(f) = a.center_crop {
        if !(f > 0.0 && f <= 1.0) {
            anyhow::bail!("--center-crop {f}: the fraction must be in (0, 1]");
        }
    }
    let kernels = super::select_isa(a.run.isa.as_deref())?;
    let (ckpt, source) = super::load_model(&a.run)?;
    let net = MobileNet::new(&ckpt, &source)?;
    let pre = Preprocess {
        size: net.config().resolution,
        center_crop: a.center_crop,
        normalization: net.config().normalization,
    };
    // Never more images at once than one forward pass holds under the memory limit, so that
    // decoded inputs stay bounded too.
    let batch = a.batch.max(1).min(net.max_batch()?);
    let mut failed = false;
    mobilenet::with_threads(a.run.threads, || -> Result<()> {
        for paths in a.images.chunks(batch) {
            // Decode in parallel; a bad image is reported and skipped, the others still run.
            let inputs: Vec<_> = {
                use rayon::prelude::*;
                paths.par_iter().map(|p| load_input(p, &pre)).collect()
            };
            let mut good = Vec::new();
            let mut good_paths = Vec::new();
            for (p, r) in paths.iter().zip(inputs) {
                match r {
                    Ok(t) => {
                        good.push(t);
                        good_paths.push(p);
                    }
                    Err(e) => {
                        eprintln!("mobilenet: error: {e}");
                        failed = true;
                    }
                }
            }
            if good.is_empty() {
                continue;
            }
            let x = Tensor::stack(&good);
            let logits = net.forward_with(kernels, &x, None)?;
            let probs = mobilenet::layers::softmax::softmax_forward(net.config().classes, &logits);
            for (row, path) in probs.chunks_exact(net.config().classes).zip(good_paths) {
                let top = top_k(row, a.top, net.labels());
                if a.json {
                    output::json_line(
                        &serde_json::json!({ "path": path.to_string_lossy(), "top": top }),
                    )?;
                } else {
                    let mut s = format!("{}\n", path.display());
                    for p in &top {
                        s += &format!("  {:>8.4}  {:>5}  {}\n", p.score, p.index, p.label);
                    }
                    output::print(&s)?;
                }
            }
        }
        Ok(())
    })??;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
