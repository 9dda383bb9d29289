//! `mobilenet eval`: top-1, top-5, loss and the confusion matrix on a labelled data set.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use mobilenet::data::{Augment, ChannelNorm, Dataset, Loader, LoaderConfig, Split};
use mobilenet::MobileNet;

use crate::args::EvalArgs;

pub fn run(a: EvalArgs) -> Result<ExitCode> {
    let kernels = super::select_isa(a.run.isa.as_deref())?;
    let (ckpt, source) = super::load_model(&a.run)?;
    let model = MobileNet::new(&ckpt, &source)?;
    let data = match Dataset::open(&a.data, Split::Test, None) {
        Ok(d) => d,
        Err(_) if a.data.is_dir() => Dataset::open_folder(&a.data, None)?,
        Err(e) => return Err(e.into()),
    };
    if data.classes.len() > model.config().classes {
        anyhow::bail!(
            "{}: {} classes in the data, the model has {}",
            a.data.display(),
            data.classes.len(),
            model.config().classes
        );
    }
    let data = match a.limit {
        Some(n) if n < data.len() => data.subset(n),
        _ => data,
    };
    let r = model.input_hwc();
    let loader = Loader::new(
        Arc::new(data),
        LoaderConfig {
            batch_size: a.batch_size.max(1),
            out_size: (r[0], r[1]),
            augment: Augment::None,
            cutout: 0,
            norm: ChannelNorm::from(model.config().normalization),
            shuffle: false,
            drop_last: false,
            seed: 0,
        },
    )?;
    let res = mobilenet::with_threads(a.run.threads, || {
        mobilenet::train::evaluate_with(kernels, &model, &loader, a.tta_flip)
    })??;
    if a.json {
        println!("{}", serde_json::to_string(&res)?);
    } else {
        println!(
            "{} images: top1 {:.4}  top5 {:.4}  loss {:.4}",
            res.images, res.top1, res.top5, res.loss
        );
        println!("confusion (rows: true class, columns: predicted):");
        for row in &res.confusion {
            println!(
                "{}",
                row.iter().map(|v| format!("{v:>6}")).collect::<String>()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
