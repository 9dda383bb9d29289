//! `mobilenet import`: convert a model file of any supported format into ours.

use std::process::ExitCode;

use anyhow::{Context, Result};

use crate::args::ImportArgs;
use crate::output;

pub fn run(a: ImportArgs) -> Result<ExitCode> {
    let mut ckpt = mobilenet::io::load(&a.input)?;
    super::attach_labels(&mut ckpt, a.labels.as_deref())?;
    let source = format!(
        "imported from {} by mobilenet {}",
        a.input
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        env!("CARGO_PKG_VERSION")
    );
    mobilenet::io::native::save(&ckpt, &a.output, Some(&source))
        .with_context(|| format!("writing {}", a.output.display()))?;
    let (st, json) = mobilenet::io::native::companion_paths(&a.output);
    let c = &ckpt.config;
    output::print(&format!(
        "{} → {} + {} (alpha {}, {}x{}, {} classes, {} tensors)\n",
        a.input.display(),
        st.display(),
        json.display(),
        c.width,
        c.resolution,
        c.resolution,
        c.classes,
        ckpt.weights.len()
    ))?;
    Ok(ExitCode::SUCCESS)
}
